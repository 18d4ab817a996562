//! The icon every service serves at `/favicon.ico`, and names in the head of its `/docs` page.
//! A browser asks any page's origin for `/favicon.ico` unless the page names an icon: Swagger
//! UI's page named none, so every visit to `/docs` logged a 404. It is the web client's icon
//! (chat-suite serves the same file at `/web/icon.svg`): an SVG, which browsers take under
//! that name by its type.

use poem::{
    Endpoint, IntoResponse, Response,
    endpoint::make_sync,
    http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS},
};

pub const ICON_SVG: &[u8] = include_bytes!("favicon.svg");

/// Where it is served, outside the OpenAPI document as `/docs` is.
pub(super) const PATH: &str = "/favicon.ico";

/// `GET /favicon.ico`. It changes only with a new build: a day in caches is harmless.
pub(super) fn endpoint() -> impl Endpoint<Output = Response> {
    make_sync(|_| {
        Response::builder()
            .header(CONTENT_TYPE, "image/svg+xml")
            .header(CACHE_CONTROL, "public, max-age=86400")
            .header(X_CONTENT_TYPE_OPTIONS, "nosniff")
            .body(ICON_SVG)
            .into_response()
    })
}

/// `page` (Swagger UI's) with the icon named in its head, after its title.
pub(super) fn named_in(page: &str) -> String {
    let link = format!("</title>\n    <link rel=\"icon\" href=\"{PATH}\" type=\"image/svg+xml\">");
    page.replacen("</title>", &link, 1)
}
