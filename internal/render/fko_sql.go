package render

// fkoSQL renders, for target fko, each DML statement as a SQL-runner job:
// a ConfigMap with its script and a FlinkDeployment whose jar runs it.
func (b *builder) fkoSQL(in Input) ([]*Object, []string) {
	return nil, nil // TODO(issue 13): being written
}
