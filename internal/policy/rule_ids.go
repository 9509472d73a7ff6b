package policy

// RuleID is the fixed ID of a policy rule. Findings name their rule with one
// of the constants below, never with a string, so a rule cannot be used that
// the Rules table (severity and summary) does not have; TestRuleIDsAreTheTable
// checks that each constant has its row.
type RuleID string

// The rules, one constant each.
const (
	RBAC001   RuleID = "RBAC-001"
	RBAC002   RuleID = "RBAC-002"
	RBAC003   RuleID = "RBAC-003"
	RBAC004   RuleID = "RBAC-004"
	RBAC005   RuleID = "RBAC-005"
	RBAC006   RuleID = "RBAC-006"
	TLS001    RuleID = "TLS-001"
	TLS002    RuleID = "TLS-002"
	TLS003    RuleID = "TLS-003"
	TLS004    RuleID = "TLS-004"
	TLS005    RuleID = "TLS-005"
	TLS006    RuleID = "TLS-006"
	TLS007    RuleID = "TLS-007"
	TLS008    RuleID = "TLS-008"
	CPU001    RuleID = "CPU-001"
	CPU002    RuleID = "CPU-002"
	CPU003    RuleID = "CPU-003"
	CPU004    RuleID = "CPU-004"
	CPU005    RuleID = "CPU-005"
	CPU006    RuleID = "CPU-006"
	WAIVER001 RuleID = "WAIVER-001"
	WAIVER002 RuleID = "WAIVER-002"
	STATE001  RuleID = "STATE-001"
	STATE002  RuleID = "STATE-002"
)
