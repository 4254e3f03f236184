"""Notifications: inbox, email, SMS, reminders."""
