"""A small OpenID Connect provider (django-oauth-toolkit) that tests/integration/test_oidc_sign_in.py runs as a
separate process, so single sign-on is tested against a real provider: discovery, PKCE code flow, RS256 ID
tokens, JWKS and userinfo. See serve.py."""
