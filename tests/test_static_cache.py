"""Static files: versioned URLs may be cached for a year; anything else is revalidated."""

import re


def test_static_urls_carry_a_content_hash_cached_for_a_year(client):
    page = client.get("/login").text
    url = re.search(r'href="(/static/css/baton\.css\?v=[0-9a-f]{12})"', page).group(1)
    response = client.get(url)
    response.close()
    assert response.status_code == 200
    assert response.cache_control.max_age == 31536000
    assert response.cache_control.immutable and response.cache_control.public


def test_static_urls_without_the_current_hash_are_revalidated(client):
    for url in ("/static/css/baton.css", "/static/css/baton.css?v=000000000000"):
        response = client.get(url)
        response.close()
        assert response.status_code == 200
        assert response.cache_control.no_cache and not response.cache_control.max_age


def test_a_missing_static_file_is_a_404(client):
    assert client.get("/static/css/missing.css?v=000000000000").status_code == 404
