package config

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestSecretNeverPrinted(t *testing.T) {
	const cookie = "cookie-secret-value-0123456789abcdef"
	const hash = "$argon2id$v=19$m=47104,t=1,p=1$c2VjcmV0$aGFzaGhhc2g"
	c := validConfig()
	c.Session.Secrets = []Secret{cookie}
	c.Users[0].PasswordHash = hash
	leaks := func(s string) bool {
		for _, v := range []string{cookie, hash, "cookie-secret", "c2VjcmV0"} {
			if strings.Contains(s, v) || strings.Contains(s, hex.EncodeToString([]byte(v))) {
				return true
			}
		}
		return false
	}

	outputs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		outputs["fmt "+verb+" config"] = fmt.Sprintf(verb, c)
		outputs["fmt "+verb+" pointer"] = fmt.Sprintf(verb, &c)
		outputs["fmt "+verb+" secret"] = fmt.Sprintf(verb, c.Session.Secrets[0])
		outputs["fmt "+verb+" secrets"] = fmt.Sprintf(verb, c.Session.Secrets)
		outputs["fmt "+verb+" user"] = fmt.Sprintf(verb, c.Users[0])
	}
	outputs["fmt Sprint"] = fmt.Sprint(c, c.Users[0].PasswordHash)
	outputs["fmt Sprintln"] = fmt.Sprintln(c)

	var text, js bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&text, nil), slog.NewJSONHandler(&js, nil)} {
		l := slog.New(h)
		l.Info("config", "config", c, "session", c.Session, "secret", c.Session.Secrets[0],
			slog.Any("user", c.Users[0]), slog.Any("ptr", &c))
	}
	outputs["slog text"] = text.String()
	outputs["slog json"] = js.String()

	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(j)
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs["yaml"] = string(y)

	for name, out := range outputs {
		if leaks(out) {
			t.Errorf("%s shows a secret:\n%s", name, out)
		}
	}
	if !strings.Contains(outputs["fmt %+v config"], "[redacted]") || !strings.Contains(outputs["slog json"], "[redacted]") {
		t.Errorf("redaction marker missing:\n%s\n%s", outputs["fmt %+v config"], outputs["slog json"])
	}
	if got := fmt.Sprintf("%#v", Secret("x")); got != `config.Secret("[redacted]")` {
		t.Errorf("%%#v = %s", got)
	}
	if got := fmt.Sprint(Secret("")); got != "" {
		t.Errorf("empty secret prints %q", got)
	}
	if c.Session.Secrets[0].Value() != cookie {
		t.Error("Value() does not return the secret")
	}
}
