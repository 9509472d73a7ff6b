// Package model is the pipeline's second stage: the repository format
// (docs/repo-format.md) as Go types, and the strict loader that turns a
// repository's files into them. Loading reads every document, refuses
// unknown fields, wrong types, bad names and broken references, and
// reports each problem as a diag.Finding (rule LOAD-…) with its file and
// line, all at once; a partial Repository comes back beside them, so
// later stages can go on for the environments the problems do not touch.
// It then works out, per environment, each application's and statement's
// effective spec (pool, environment defaults and overrides merged).
//
// model imports only internal/diag and internal/source; every later stage
// (sizing, render, policy, sync, plan) reads its types and never writes
// them.
package model
