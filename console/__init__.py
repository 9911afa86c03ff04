"""The operator's console: Django's admin site dressed as PromptGate (navigation by task, a dashboard home, project overviews)."""
