package demo

import (
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/havencrm/haven/records"
)

var seeds = []int64{0, 1, 42, -7, 20260101}

func objectsByName() map[string]records.Object {
	m := map[string]records.Object{}
	for _, o := range records.StandardObjects() {
		m[o.Name] = o
	}
	return m
}

func TestCount(t *testing.T) {
	for _, seed := range seeds {
		recs := Records(seed)
		if n := len(recs); n < 180 || n > 220 {
			t.Errorf("seed %d: %d records, want 180–220", seed, n)
		}
		per := map[string]int{}
		for _, r := range recs {
			per[r.Object]++
		}
		for _, name := range records.StandardObjectNames {
			if per[name] < 20 {
				t.Errorf("seed %d: only %d %s records", seed, per[name], name)
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, b := Records(42), Records(42)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed produced different data")
	}
	if reflect.DeepEqual(a, Records(43)) {
		t.Fatal("different seeds produced identical data")
	}
}

func TestFieldsMatchMetadata(t *testing.T) {
	objs := objectsByName()
	for _, seed := range seeds {
		for _, r := range Records(seed) {
			obj, ok := objs[r.Object]
			if !ok {
				t.Fatalf("%s: unknown object %q", r.Key, r.Object)
			}
			for name, v := range r.Fields {
				fd, ok := obj.Field(name)
				if !ok {
					t.Errorf("%s: field %q does not exist on %s", r.Key, name, r.Object)
					continue
				}
				checkValue(t, r.Key, fd, v)
			}
			for name := range r.Lookups {
				fd, ok := obj.Field(name)
				if !ok || fd.Type != records.TypeLookup {
					t.Errorf("%s: %q is not a lookup field of %s", r.Key, name, r.Object)
				}
			}
			for _, fd := range obj.Fields {
				if !fd.Required {
					continue
				}
				v, ok := r.Fields[fd.Name]
				if fd.Type == records.TypeLookup {
					ok = r.Lookups[fd.Name] != ""
				} else if s, isStr := v.(string); isStr && strings.TrimSpace(s) == "" {
					ok = false
				}
				if !ok {
					t.Errorf("%s: required field %q missing", r.Key, fd.Name)
				}
			}
		}
	}
}

func checkValue(t *testing.T, key string, fd records.Field, v any) {
	t.Helper()
	switch fd.Type {
	case records.TypeNumber, records.TypeCurrency:
		if _, ok := v.(float64); !ok {
			t.Errorf("%s.%s: %T, want float64", key, fd.Name, v)
		}
	case records.TypeBoolean:
		if _, ok := v.(bool); !ok {
			t.Errorf("%s.%s: %T, want bool", key, fd.Name, v)
		}
	case records.TypeLookup:
		t.Errorf("%s.%s: lookup field in Fields", key, fd.Name)
	default:
		s, ok := v.(string)
		if !ok {
			t.Errorf("%s.%s: %T, want string", key, fd.Name, v)
			return
		}
		if s == "" {
			t.Errorf("%s.%s: empty string", key, fd.Name)
		}
		switch fd.Type {
		case records.TypePicklist:
			if !slices.Contains(fd.Options, s) {
				t.Errorf("%s.%s: %q not among %v", key, fd.Name, s, fd.Options)
			}
		case records.TypeDate:
			if _, err := time.Parse(time.DateOnly, s); err != nil {
				t.Errorf("%s.%s: %v", key, fd.Name, err)
			}
		case records.TypeDatetime:
			tm, err := time.Parse(time.RFC3339, s)
			if err != nil || !strings.HasSuffix(s, "Z") || tm.Location() != time.UTC {
				t.Errorf("%s.%s: %q is not an RFC 3339 UTC time", key, fd.Name, s)
			}
		case records.TypeEmail:
			if strings.Count(s, "@") != 1 || strings.HasPrefix(s, "@") || strings.HasSuffix(s, "@") || strings.ContainsAny(s, " ") {
				t.Errorf("%s.%s: bad e-mail %q", key, fd.Name, s)
			}
		case records.TypeURL:
			if !strings.HasPrefix(s, "https://") {
				t.Errorf("%s.%s: bad URL %q", key, fd.Name, s)
			}
		}
	}
}

func TestLookupsAndKeys(t *testing.T) {
	objs := objectsByName()
	validOwners := []string{"admin", "manager", "sales1", "sales2"}
	for _, seed := range seeds {
		seen := map[string]string{} // key -> object
		for _, r := range Records(seed) {
			if r.Key == "" {
				t.Errorf("empty key on %s", r.Object)
			}
			if _, dup := seen[r.Key]; dup {
				t.Errorf("duplicate key %s", r.Key)
			}
			if !slices.Contains(validOwners, r.Owner) {
				t.Errorf("%s: owner %q", r.Key, r.Owner)
			}
			obj := objs[r.Object]
			for name, target := range r.Lookups {
				fd, _ := obj.Field(name)
				got, ok := seen[target]
				if !ok {
					t.Errorf("%s.%s → %q: not created earlier", r.Key, name, target)
				} else if got != fd.LookupObject {
					t.Errorf("%s.%s → %q is a %s, want %s", r.Key, name, target, got, fd.LookupObject)
				}
			}
			switch r.Object {
			case "contact", "opportunity", "activity":
				if r.Lookups["account_id"] == "" {
					t.Errorf("%s: not linked to an account", r.Key)
				}
			}
			seen[r.Key] = r.Object
		}
	}
}

// Activities linking a contact or opportunity link one of the same account.
func TestActivityLinksConsistent(t *testing.T) {
	accountOf := map[string]string{}
	for _, r := range Records(7) {
		if acc := r.Lookups["account_id"]; acc != "" && r.Object != "activity" {
			accountOf[r.Key] = acc
		}
		if r.Object != "activity" {
			continue
		}
		for _, f := range []string{"contact_id", "opportunity_id"} {
			if k := r.Lookups[f]; k != "" && accountOf[k] != r.Lookups["account_id"] {
				t.Errorf("%s: %s %s belongs to %s, activity to %s", r.Key, f, k, accountOf[k], r.Lookups["account_id"])
			}
		}
	}
}

var mobileRE = regexp.MustCompile(`^1[3-9]\d{9}$`)

// validIDNumber checks an 18-character resident ID number with ISO 7064
// MOD 11-2, computed independently of the generator's weight table.
func validIDNumber(s string) bool {
	if len(s) != 18 {
		return false
	}
	sum := 0
	for i := range 17 {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		w := 1
		for range 17 - i {
			w = w * 2 % 11
		}
		sum += int(s[i]-'0') * w
	}
	check := (12 - sum%11) % 11
	want := byte('0' + check)
	if check == 10 {
		want = 'X'
	}
	if s[17] != want {
		return false
	}
	_, err := time.Parse("20060102", s[6:14])
	return err == nil
}

func validLuhn(s string) bool {
	if s == "" {
		return false
	}
	sum := 0
	for i := range len(s) {
		c := s[len(s)-1-i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func TestValidators(t *testing.T) {
	// Sanity-check the test's own validators on published examples.
	if !validIDNumber("11010519491231002X") {
		t.Error("GB 11643 example rejected")
	}
	if validIDNumber("110105194912310021") {
		t.Error("wrong check digit accepted")
	}
	if !validLuhn("79927398713") || validLuhn("79927398710") {
		t.Error("Luhn validator broken")
	}
	if got := idCheckDigit("11010519491231002"); got != 'X' {
		t.Errorf("idCheckDigit = %c, want X", got)
	}
	if got := luhnCheckDigit("7992739871"); got != '3' {
		t.Errorf("luhnCheckDigit = %c, want 3", got)
	}
}

func TestFormats(t *testing.T) {
	landlineRE := regexp.MustCompile(`^(0\d{2,3}-[2-9]\d{7}|\+86 \d{2,3} \d{4} \d{4}|\+65 6\d{3} \d{4}|\+44 20 7\d{3} \d{4})$`)
	for _, seed := range seeds {
		var ids, banks, mobiles int
		for _, r := range Records(seed) {
			if m, ok := r.Fields["mobile"].(string); ok {
				mobiles++
				if !mobileRE.MatchString(m) {
					t.Errorf("%s: mobile %q", r.Key, m)
				}
			}
			if p, ok := r.Fields["phone"].(string); ok && !landlineRE.MatchString(p) {
				t.Errorf("%s: phone %q", r.Key, p)
			}
			if id, ok := r.Fields["id_number"].(string); ok {
				ids++
				if !validIDNumber(id) {
					t.Errorf("%s: ID number %q fails MOD 11-2", r.Key, id)
				}
				if b, ok := r.Fields["birthday"].(string); ok && strings.ReplaceAll(b, "-", "") != id[6:14] {
					t.Errorf("%s: birthday %s does not match ID number %s", r.Key, b, id)
				}
			}
			if b, ok := r.Fields["bank_account"].(string); ok {
				banks++
				if len(b) < 16 || len(b) > 19 || !validLuhn(b) {
					t.Errorf("%s: bank account %q", r.Key, b)
				}
			}
		}
		if ids < 5 || banks < 5 || mobiles < 20 {
			t.Errorf("seed %d: too few samples: %d ID numbers, %d bank accounts, %d mobiles", seed, ids, banks, mobiles)
		}
	}
}

func TestOpportunities(t *testing.T) {
	prob := map[string]float64{"prospecting": 10, "qualification": 20, "proposal": 50, "negotiation": 75, "closed_won": 100, "closed_lost": 0}
	for _, seed := range seeds {
		stagesSeen := map[string]bool{}
		for _, r := range Records(seed) {
			if r.Object != "opportunity" {
				continue
			}
			stage := r.Fields["stage"].(string)
			stagesSeen[stage] = true
			if p := r.Fields["probability"].(float64); p != prob[stage] {
				t.Errorf("%s: probability %v for stage %s", r.Key, p, stage)
			}
			a := r.Fields["amount"].(float64)
			if a < 10_000 || a > 5_000_000 {
				t.Errorf("%s: amount %v out of range", r.Key, a)
			}
			if c := math.Round(a * 100); math.Abs(c-a*100) > 1e-6 || c/100 != a {
				t.Errorf("%s: amount %v has more than two decimals", r.Key, a)
			}
			d, _ := time.Parse(time.DateOnly, r.Fields["close_date"].(string))
			if d.Year() < 2026 || d.Year() > 2027 {
				t.Errorf("%s: close date %v", r.Key, d)
			}
		}
		if len(stagesSeen) < 4 {
			t.Errorf("seed %d: only stages %v", seed, stagesSeen)
		}
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for _, r := range s {
		if r > unicode.MaxASCII {
			return false
		}
	}
	return true
}

func TestLanguageMix(t *testing.T) {
	for _, seed := range seeds {
		zhPeople, enPeople, zhCo, enCo := 0, 0, 0, 0
		cities := map[string]bool{}
		for _, r := range Records(seed) {
			name, _ := r.Fields["name"].(string)
			switch r.Object {
			case "contact", "lead":
				if hasHan(name) {
					zhPeople++
				} else if isASCII(name) && strings.Contains(name, " ") {
					enPeople++
				}
			case "account":
				cities[r.Fields["city"].(string)] = true
				if hasHan(name) {
					zhCo++
				} else if isASCII(name) {
					enCo++
				}
			}
		}
		if zhPeople < 10 || enPeople < 10 || zhCo < 5 || enCo < 5 {
			t.Errorf("seed %d: Chinese/English people %d/%d, companies %d/%d", seed, zhPeople, enPeople, zhCo, enCo)
		}
		if len(cities) < 5 {
			t.Errorf("seed %d: only cities %v", seed, cities)
		}
	}
}

func TestUsers(t *testing.T) {
	us := Users()
	keys := []string{}
	roles := map[string]int{}
	for _, u := range us {
		keys = append(keys, u.Key)
		roles[u.Role]++
		if !strings.HasSuffix(u.Email, "@demo.example.com") || strings.Count(u.Email, "@") != 1 {
			t.Errorf("%s: e-mail %q", u.Key, u.Email)
		}
		if u.Name == "" || !mobileRE.MatchString(u.Phone) {
			t.Errorf("%s: name %q phone %q", u.Key, u.Name, u.Phone)
		}
	}
	if !reflect.DeepEqual(keys, []string{"manager", "sales1", "sales2"}) || roles["manager"] != 1 || roles["sales"] != 2 {
		t.Errorf("users %+v", us)
	}
}
