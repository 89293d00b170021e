package policy

import "sort"

// closestTag returns the tag of tags nearest to t by edit distance, when
// it is close enough to be a typo of it (at most a third of t's length,
// at least 1), and "" otherwise. Ties go to the first in sorted order.
func closestTag(t string, tags map[string]string) string {
	limit := max(1, len([]rune(t))/3)
	names := make([]string, 0, len(tags))
	for name := range tags {
		names = append(names, name)
	}
	sort.Strings(names)
	best, bestD := "", limit+1
	for _, name := range names {
		if d := EditDistance(t, name, bestD); d < bestD {
			best, bestD = name, d
		}
	}
	return best
}

// EditDistance is the Levenshtein distance between a and b, or any value
// of at least limit once it cannot be below limit. The CLI's suggestions
// for mistyped flags use it too.
func EditDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
