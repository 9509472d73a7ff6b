package policy

// CompliantRepo exposes this package's compliant test repository (it has a
// cfk environment) to the external real-CFK-schema test.
func CompliantRepo() map[string]string { return edited(compliant) }

// CompliantSQLRepos expose the compliant repository with Flink SQL in its
// cfk environment, as it is and requiring TLS there, to the same test.
func CompliantSQLRepos() map[string]map[string]string {
	return map[string]map[string]string{"with SQL": withSQL(), "with SQL, TLS required": withSQL(euTLS...)}
}
