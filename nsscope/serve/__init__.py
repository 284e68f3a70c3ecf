"""``nsscope serve``: the host's containers, cgroups and namespaces as Prometheus metrics.

Data flows one way, as everywhere in nsscope: each scrape takes a snapshot through
the host's incremental ``Sampler`` (``scrape``), ``cadvisor`` maps it to the
families cAdvisor and the kubelet export (same names, types, units and labels),
``extra`` to what only nsscope sees (``nsscope_*``), ``collector`` is
prometheus-client's custom collector over both, and ``http`` the read-only server.
Nothing is collected between scrapes (cAdvisor's housekeeping reads every cgroup
every second). This part imports the host, the kernel and the shared leaves
only; the TUI and the actions never import it.
"""
