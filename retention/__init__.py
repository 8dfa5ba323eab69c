"""The privacy lifecycle: retention policy, expiry, anonymization, linking and rights."""
