package policy

// Rule names the rule behind a verdict, as restic's KeepReason names the
// policy that matched: a stable code (the plan's JSON "reason_codes").
type Rule string

// Rules.
const (
	RuleTag          Rule = "keep_tag"         // a keep tag names Tag
	RuleRegex        Rule = "keep_regex"       // Tag matches a keep regex
	RuleNewest       Rule = "keep_newest"      // among the N newest
	RuleNewerThan    Rule = "keep_newer_than"  // built less than D ago
	RuleSemver       Rule = "keep_semver"      // Tag is among the N highest versions of its line
	RuleGroup        Rule = "keep_group"       // among the N newest of its group
	RuleAgeUnknown   Rule = "age_unknown"      // an age rule cannot rank an image of unknown age
	RuleNotCandidate Rule = "not_candidate"    // the delete filters do not select it
	RuleCandidate    Rule = "delete_candidate" // the delete filters select it and no keep rule holds it
	RuleUntagUnkept  Rule = "untag_unkept"     // its tags no rule holds go (untag_unkept)
	RuleExpired      Rule = "expired_label"    // its expiry label has passed and no keep rule holds it
)

// Reason is why a Decision is what it is: the rule, the tag it is about
// (for tag rules), and the verdict in the policy's words, which hold the
// figures the rule used (a rank, an age, a version line).
type Reason struct {
	Rule Rule
	Tag  string
	Text string
}

func (r Reason) String() string { return r.Text }

// Texts returns the texts of rs.
func Texts(rs []Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Text
	}
	return out
}
