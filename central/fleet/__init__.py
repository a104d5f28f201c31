"""Fleet provisioning and broker security: identities, credentials, CA, password file, ACL."""
