"""The collector: sources (syslog, files, journald, commands, stdin) shipping to HEC sinks."""
