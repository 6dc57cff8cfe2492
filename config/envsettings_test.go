package config

import (
	"slices"
	"testing"
)

func TestEnvSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"none", nil, []string{}},
		{"empty values count as unset", map[string]string{"GATEHOUSE_SERVER_LISTEN": ""}, []string{}},
		{"config file and unknown names are not settings",
			map[string]string{"GATEHOUSE_CONFIG": "/etc/gatehouse.yaml", "GATEHOUSE_NO_SUCH_KEY": "1", "HOME": "/root"}, []string{}},
		{"scalars, appended list elements and secret files",
			map[string]string{
				"GATEHOUSE_SERVER_LISTEN":              "0.0.0.0:8443",
				"GATEHOUSE_USERS_0_ID":                 "u-1",
				"GATEHOUSE_USERS_0_PASSWORD_HASH_FILE": "/run/secrets/hash",
				"GATEHOUSE_USERS_1_USERNAME":           "bob",
				"GATEHOUSE_SESSION_SECRETS":            "a,b",
			},
			[]string{"GATEHOUSE_SERVER_LISTEN", "GATEHOUSE_SESSION_SECRETS", "GATEHOUSE_USERS_0_ID",
				"GATEHOUSE_USERS_0_PASSWORD_HASH_FILE", "GATEHOUSE_USERS_1_USERNAME"}},
		{"trusted clients, even unparsable",
			map[string]string{"GATEHOUSE_OIDC_TRUSTED_CLIENTS_FILE": "/run/secrets/clients"},
			[]string{"GATEHOUSE_OIDC_TRUSTED_CLIENTS_FILE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := EnvSettings(func(k string) string { return tc.env[k] })
			if !slices.Equal(got, tc.want) {
				t.Fatalf("EnvSettings = %q, want %q", got, tc.want)
			}
		})
	}
}
