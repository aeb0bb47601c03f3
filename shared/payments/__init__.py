"""Payments: top-ups, receipts and the codes that tie a bank transfer to a payment."""
