"""Ansible strategy plugins of dcinfra's tuned engine (a plugin dir: Ansible loads them by file name)."""
