"""gunicorn's application API (``gunicorn.app``) for embedding narwhal: narwhal.app.base
(custom applications) and narwhal.app.pasterapp (PasteDeploy). See docs/embedding.md."""
