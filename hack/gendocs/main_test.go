package main

import (
	"strings"
	"testing"
)

func TestReplace(t *testing.T) {
	doc := "a\n<!-- rules:begin -->\nold\n<!-- rules:end -->\nb\n<!-- cli:serve:begin -->\n<!-- cli:serve:end -->\n<!-- load:begin -->\nkept\n<!-- load:end -->\n"
	for name, tc := range map[string]struct {
		doc      string
		sections map[string]string
		want     string
		err      string
	}{
		"replaces between markers, leaves other generators' markers": {
			doc: doc, sections: map[string]string{"rules": "R\n", "cli:serve": "S\n"},
			want: "a\n<!-- rules:begin -->\nR\n<!-- rules:end -->\nb\n<!-- cli:serve:begin -->\nS\n<!-- cli:serve:end -->\n<!-- load:begin -->\nkept\n<!-- load:end -->\n",
		},
		"a new subcommand without markers": {
			doc: doc, sections: map[string]string{"rules": "R\n", "cli:serve": "S\n", "cli:debug": "D\n"},
			err: "no markers <!-- NAME:begin --> and <!-- NAME:end --> for cli:debug",
		},
		"markers of a removed subcommand": {
			doc: doc, sections: map[string]string{"rules": "R\n"},
			err: "marker cli:serve:begin has nothing to generate",
		},
		"end before begin": {
			doc: "<!-- rules:end -->\n<!-- rules:begin -->\n", sections: map[string]string{"rules": "R\n"},
			err: "not found in order",
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Replace([]byte(tc.doc), tc.sections)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v\nwant %q", got, err, tc.want)
			}
		})
	}
}
