package policy

// CompliantRepo exposes this package's compliant test repository (it has a
// cfk environment) to the external real-CFK-schema test.
func CompliantRepo() map[string]string {
	out := make(map[string]string, len(compliant))
	for k, v := range compliant {
		out[k] = v
	}
	return out
}
