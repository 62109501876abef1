/*
Copyright 2026 The userservice-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package chart

import (
	"fmt"
	"strings"
	"testing"
)

// selector is one vector selector of a PromQL expression: a metric name
// and its label matchers.
type selector struct {
	// Name is the metric name, "" for a selector of matchers only.
	Name string
	// Matchers are the label matchers as written, such as job="x" or code=~"5..".
	Matchers []matcher
}

// matcher is one label matcher.
type matcher struct {
	Label, Op, Value string
}

// String renders the selector in PromQL.
func (s selector) String() string {
	parts := make([]string, 0, len(s.Matchers))
	for _, m := range s.Matchers {
		parts = append(parts, fmt.Sprintf("%s%s%q", m.Label, m.Op, m.Value))
	}
	return s.Name + "{" + strings.Join(parts, ",") + "}"
}

// equalities returns the selector with its equality matchers only: the
// series it matches must exist for the selector to make sense, while
// regular expressions and negations may rightly match nothing (no 5xx yet).
func (s selector) equalities() selector {
	out := selector{Name: s.Name}
	for _, m := range s.Matchers {
		if m.Op == "=" {
			out.Matchers = append(out.Matchers, m)
		}
	}
	return out
}

// promqlKeywords are the identifiers of PromQL that are not metric names
// when not followed by "(": binary operators, modifiers, literals, and the
// aggregation operators, which "by (...)" or "without (...)" may follow.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "atan2": true, "bool": true, "offset": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"inf": true, "nan": true, "start": true, "end": true,
	"sum": true, "avg": true, "min": true, "max": true, "count": true, "count_values": true, "group": true,
	"stddev": true, "stdvar": true, "topk": true, "bottomk": true, "quantile": true, "limitk": true, "limit_ratio": true,
}

// labelListKeywords are followed by a parenthesized list of label names.
var labelListKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// selectors returns the vector selectors of a PromQL expression. It is a
// scanner, not a parser: it skips strings, label lists of by/without/on/
// ignoring/group_*, range and subquery brackets, numbers and durations,
// and takes an identifier not followed by "(" (a function or an aggregation)
// and not a keyword as a metric name, with the matchers in braces after it.
// Prometheus itself checks the syntax when the tests run the expression.
func selectors(expr string) ([]selector, error) {
	var out []selector
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(expr, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '[':
			end := strings.IndexByte(expr[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed [ at %d in %q", i, expr)
			}
			i += end + 1
		case c == '{':
			ms, end, err := matchers(expr, i)
			if err != nil {
				return nil, err
			}
			out = append(out, selector{Matchers: ms})
			i = end
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdentChar(expr[j]) {
				j++
			}
			name, next := expr[i:j], skipSpace(expr, j)
			switch {
			case labelListKeywords[name] && next < len(expr) && expr[next] == '(':
				end := strings.IndexByte(expr[next:], ')')
				if end < 0 {
					return nil, fmt.Errorf("unclosed label list after %s in %q", name, expr)
				}
				i = next + end + 1
			case promqlKeywords[name] || (next < len(expr) && expr[next] == '('):
				i = j
			default:
				s := selector{Name: name}
				i = j
				if next < len(expr) && expr[next] == '{' {
					ms, end, err := matchers(expr, next)
					if err != nil {
						return nil, err
					}
					s.Matchers, i = ms, end
				}
				out = append(out, s)
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isIdentChar(expr[i]) || expr[i] == '.') {
				i++
			}
		default:
			i++
		}
	}
	return out, nil
}

// matchers parses the label matchers in braces at expr[open] and returns
// them with the index after the closing brace.
func matchers(expr string, open int) ([]matcher, int, error) {
	var out []matcher
	i := open + 1
	for {
		i = skipSpace(expr, i)
		if i >= len(expr) {
			return nil, 0, fmt.Errorf("unclosed { at %d in %q", open, expr)
		}
		if expr[i] == '}' {
			return out, i + 1, nil
		}
		if expr[i] == ',' {
			i++
			continue
		}
		j := i
		for j < len(expr) && isIdentChar(expr[j]) {
			j++
		}
		label := expr[i:j]
		k := skipSpace(expr, j)
		op := ""
		for _, o := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(expr[k:], o) {
				op = o
				break
			}
		}
		if label == "" || op == "" {
			return nil, 0, fmt.Errorf("bad matcher at %d in %q", i, expr)
		}
		v := skipSpace(expr, k+len(op))
		end, err := skipString(expr, v)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, matcher{Label: label, Op: op, Value: expr[v+1 : end-1]})
		i = end
	}
}

// skipString returns the index after the string literal at expr[i].
func skipString(expr string, i int) (int, error) {
	if i >= len(expr) || !strings.ContainsRune("\"'`", rune(expr[i])) {
		return 0, fmt.Errorf("expected a string at %d in %q", i, expr)
	}
	q := expr[i]
	for j := i + 1; j < len(expr); j++ {
		switch {
		case expr[j] == '\\' && q != '`':
			j++
		case expr[j] == q:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unclosed string at %d in %q", i, expr)
}

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(s string, i int) int {
	for i < len(s) && strings.ContainsRune(" \t\r\n", rune(s[i])) {
		i++
	}
	return i
}

// isIdentStart reports whether c may start a metric or label name.
func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// isIdentChar reports whether c may continue a metric or label name.
func isIdentChar(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9'
}

func TestSelectors(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up`, []string{`up{}`}},
		{`absent(up{job="op"} == 1)`, []string{`up{job="op"}`}},
		{`sum by (namespace, service) (rate(http_requests_total{job="us",code=~"5.."}[5m])) / on (x) group_left sum(a:b)`,
			[]string{`http_requests_total{job="us",code=~"5.."}`, `a:b{}`}},
		{"histogram_quantile(0.99, sum by (le) (rate(x_bucket{a!=\"b\", c!~'d'}[1m:10s] offset 5m))) > 0.5 and bool y",
			[]string{`x_bucket{a!="b",c!~"d"}`, `y{}`}},
		{`max(m{l="a}b"}) without (l) or {__name__="n"}`, []string{`m{l="a}b"}`, `{__name__="n"}`}},
		{`sum by (grpc_code) (rate(g{c!="OK"}[1m]))
/ ignoring (grpc_code) group_left
sum(rate(g[1m]))`, []string{`g{c!="OK"}`, `g{}`}},
	} {
		got, err := selectors(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		names := make([]string, 0, len(got))
		for _, s := range got {
			names = append(names, s.String())
		}
		if d := diff(tc.want, names); d != "" {
			t.Errorf("selectors(%q) (-want +got):\n%s", tc.expr, d)
		}
	}
	if _, err := selectors(`m{l="a"`); err == nil {
		t.Error("an unclosed brace is not an error")
	}
}
