"""One module per page: ``view(ctx)`` builds the page's queries, runs them and returns what its
template (``templates/<key>.html``) draws. See :mod:`percorso.web.pages`."""
