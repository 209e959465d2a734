//! The documentation the server serves: `/openapi.json` describes every route and
//! status of the contract, and `/docs` (Swagger UI) works without the internet.

use serde_json::{Value, json};

use crate::TestApp;

/// `/openapi.json` describes every route, with the statuses the contract names.
pub(super) async fn openapi_documents_every_route_and_status(app: &TestApp) {
    let response = app.get("/openapi.json").await;
    response.assert_status(200);
    let doc = response.json();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let expected: [(&str, &str, &[&str]); 13] = [
        (
            "/users",
            "post",
            &["201", "400", "409", "413", "415", "422", "503"],
        ),
        ("/users", "get", &["200", "400", "422", "503"]),
        ("/users/{id}", "get", &["200", "400", "404", "503"]),
        (
            "/users/{id}",
            "patch",
            &["200", "400", "404", "409", "413", "415", "422", "503"],
        ),
        ("/users/{id}", "delete", &["204", "400", "404", "503"]),
        (
            "/users/batch",
            "post",
            &["201", "400", "408", "409", "413", "415", "422", "503"],
        ),
        ("/users/export", "get", &["200", "503"]),
        (
            "/users/{id}/posts",
            "post",
            &["201", "400", "404", "408", "413", "415", "422", "503"],
        ),
        (
            "/users/{id}/posts",
            "get",
            &["200", "400", "404", "422", "503"],
        ),
        ("/posts", "get", &["200", "400", "422", "503"]),
        ("/posts/{id}", "get", &["200", "400", "404", "503"]),
        ("/posts/{id}", "delete", &["204", "400", "404", "503"]),
        ("/health", "get", &["200", "503"]),
    ];
    // The post routes' 201 and 200 answers name their schemas, and document the
    // `Location` and `Link` headers as the user routes do.
    let created = &doc["paths"]["/users/{id}/posts"]["post"]["responses"]["201"];
    assert!(created["headers"]["Location"].is_object(), "{created}");
    for list in ["/users/{id}/posts", "/posts"] {
        let page = &doc["paths"][list]["get"]["responses"]["200"];
        assert!(page["headers"]["Link"].is_object(), "{list}: {page}");
    }
    for (path, method, statuses) in expected {
        let responses = &doc["paths"][path][method]["responses"];
        assert!(responses.is_object(), "{method} {path} is not documented");
        for status in statuses {
            assert!(
                responses[*status].is_object(),
                "{method} {path}: status {status} is not documented"
            );
        }
    }
    batch_and_export_are_documented(&doc);
    for schema in [
        "UserRead",
        "UserCreate",
        "UserUpdate",
        "UserBatch",
        "UserBatchCreated",
        "PostRead",
        "PostCreate",
        "PostWithAuthor",
        "Problem",
        "FieldError",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
}

/// The batch and the export as the document must describe them: the batch's body is a
/// `UserBatch` of 1 to 100 `UserCreate`s, its 201 a `UserBatchCreated` and its 409 a
/// problem; the export's 200 is `application/x-ndjson` (one `UserRead` a line), not
/// JSON; and each path has only its one method (so `GET /users/batch` is no operation).
fn batch_and_export_are_documented(doc: &Value) {
    let batch = &doc["paths"]["/users/batch"];
    let export = &doc["paths"]["/users/export"];
    let methods = |path: &Value| -> Vec<String> {
        path.as_object()
            .map(|operations| operations.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(methods(batch), ["post"], "{batch}");
    assert_eq!(methods(export), ["get"], "{export}");

    let post = &batch["post"];
    let request = &post["requestBody"]["content"];
    assert_eq!(
        request["application/json"]["schema"]["$ref"], "#/components/schemas/UserBatch",
        "{request}"
    );
    let created = &post["responses"]["201"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(created, "#/components/schemas/UserBatchCreated");
    let conflict = &post["responses"]["409"];
    assert!(
        conflict["content"]["application/problem+json"].is_object(),
        "{conflict}"
    );

    let users = &doc["components"]["schemas"]["UserBatch"]["properties"]["users"];
    assert_eq!(users["type"], "array", "{users}");
    assert_eq!(users["items"]["$ref"], "#/components/schemas/UserCreate");
    assert_eq!(
        (&users["minItems"], &users["maxItems"]),
        (&json!(1), &json!(100))
    );
    let required = &doc["components"]["schemas"]["UserBatch"]["required"];
    assert_eq!(required, &json!(["users"]));
    let listed = &doc["components"]["schemas"]["UserBatchCreated"]["properties"]["users"];
    assert_eq!(listed["items"]["$ref"], "#/components/schemas/UserRead");

    let lines = &export["get"]["responses"]["200"]["content"];
    let media: Vec<&String> = lines
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(media, ["application/x-ndjson"], "{lines}");
    assert_eq!(
        lines["application/x-ndjson"]["schema"]["$ref"], "#/components/schemas/UserRead",
        "{lines}"
    );
}

/// `/docs` is Swagger UI, served entirely by the binary: no outside URL is needed.
pub(super) async fn docs_are_served_without_internet(app: &TestApp) {
    let page = app.get("/docs/").await;
    page.assert_status(200);
    let html = page.text();
    assert!(html.contains("swagger-ui"), "not Swagger UI: {html}");
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-initializer.js",
    ] {
        let response = app.get(&format!("/docs/{asset}")).await;
        response.assert_status(200);
        assert!(response.body.len() > 100, "{asset} is empty");
    }
    let initializer = app.get("/docs/swagger-initializer.js").await.text();
    assert!(initializer.contains("/openapi.json"), "{initializer}");
    let compact: String = initializer.split_whitespace().collect();
    assert!(
        compact.contains("\"validatorUrl\":\"none\""),
        "validator badge calls out: {initializer}"
    );
    for text in [&html, &initializer] {
        assert!(
            !text.contains("https://"),
            "an outside URL in /docs: {text}"
        );
        assert!(!text.contains("http://"), "an outside URL in /docs: {text}");
    }
}
