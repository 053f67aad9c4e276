"""Unit tests of the compute area. A package, so that their module names
(``compute.test_ec2``, ...) stay apart from the integration tests' (``test_ec2``)."""
