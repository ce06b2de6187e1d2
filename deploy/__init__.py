"""Serving the app to a classroom from one machine with several processes: ``replicas`` starts N Streamlit processes
on loopback and Debian's nginx in front of them, and supervises them; ``nginx_config`` writes nginx's configuration
(from ``nginx.conf.template``). No Streamlit, TensorFlow or project package is imported here: this is the launcher."""
