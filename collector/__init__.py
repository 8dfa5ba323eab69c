"""The collector: the aiohttp application, configuration, command line and admin API."""
