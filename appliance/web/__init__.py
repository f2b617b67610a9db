"""The HTTP toolkit the appliance's web edges and the plugins' routes share: Litestar helpers that
hold no appliance state.

- `uploads`: multipart bodies (`payload` part + files) read as they stream, under the site's limits;
- `requests`: what a request carries (paging, comma lists, the access token) and finding what
  the caller may see;
- `responses`: what an answer is made of (paging envelopes, stored files, the HTTP status of each
  error code, the headers, redirects and error status of console pages);
- `meta`: the `meta_data` verbs of the Oz API.

It sits below `appliance.sdk`, which re-exports what plugins may use (`appliance.sdk.web`,
`appliance.sdk.console`), and imports only the domain and the settings.
"""
