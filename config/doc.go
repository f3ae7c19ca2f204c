// Package config owns Slipway's configuration: the TOML schema of
// slipway.toml, its defaults, the built-in default for a single machine, and
// validation that reports every problem with the file, line and dotted key
// it concerns. Loading reads only local files (the config file and the
// authorized_keys files it names). It must not touch the network, the
// deploy hosts or the git repositories: whether a host answers or a
// repository exists is for the packages that use them to find out.
package config
