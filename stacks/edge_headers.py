"""The security headers CloudFront adds to every response (the local edge adds the same).

Kept free of CDK imports so the local edge can use it without loading the CDK.
"""

HSTS_SECONDS = 63_072_000  # two years, the preload list's minimum is one
# Files are data, never pages: a sandboxed, script-free policy defuses HTML or SVG that slipped in.
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"
REFERRER_POLICY = "no-referrer"

SECURITY_HEADERS: dict[str, str] = {
    "Strict-Transport-Security": f"max-age={HSTS_SECONDS}; includeSubDomains; preload",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": REFERRER_POLICY,
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}
