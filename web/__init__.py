"""The web app's static files (index.html, app.css, js/), shipped as package data and served at ``/`` by
finance/api/web.py. No Python here, and no build step: the browser loads the ES modules as they are."""
