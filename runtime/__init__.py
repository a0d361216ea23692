"""The runtime: graph IR, views, scheduler, buffers, devices and realization."""
