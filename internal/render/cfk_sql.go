package render

// cfkSQL renders, for target cfk, a FlinkComputePool per pool the
// environment's statements use, a FlinkStatement per statement, and per
// catalog a FlinkKafkaCatalog, its FlinkKafkaDatabases, a FlinkSecret per
// credentials Secret and the FlinkEnvironmentSecretMapping CMF needs.
func (b *builder) cfkSQL(in Input) ([]*Object, []string) {
	return nil, nil // TODO(issue 13): being written
}
