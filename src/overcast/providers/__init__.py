"""What one provider's API is like in every area: its paging and error shapes,
shared by that provider's drivers (DNS and compute alike) so that no driver
imports another."""
