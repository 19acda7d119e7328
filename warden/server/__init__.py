"""The Jupyter server extension (imported by the Jupyter server only, through
``warden._jupyter_server_extension_points``): ``app.Warden`` assembles the modules here."""
