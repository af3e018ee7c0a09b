"""Bearer-token authentication: signing keys, JWT verification and the resulting principals.

``keys`` finds verification keys (JWKS file, JWKS URL or the development key), ``verifier``
checks a compact JWS against them, ``principals`` turns verified claims into a health user or
a service client, and ``dev_tokens`` mints tokens for development and tests.
"""
