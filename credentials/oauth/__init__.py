"""OAuth 2.0 service connections: presets, the authorization-code flow, token refresh and injection."""
