"""The feed follower: a partner's verified local copy of a repository, kept up to date."""
