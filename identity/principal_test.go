package identity_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestOnlyTheAuthenticatorsMintPrincipals is the structural half of "no
// hidden accounts": in the whole module, a Principal — the thing every
// handler acts as — is built only by the session and API-token
// authenticators (and tests). A master password, an impersonation switch
// or a backdoor would have to build one somewhere else, and this fails.
func TestOnlyTheAuthenticatorsMintPrincipals(t *testing.T) {
	allowed := []string{"identity.Authenticate", "identity.authenticateAPIToken"}
	var found []string
	root := filepath.Join("..")
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		pkg := f.Name.Name
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok {
				continue
			}
			isPrincipal := func(e ast.Expr) bool {
				switch typ := e.(type) {
				case *ast.Ident:
					return pkg == "identity" && typ.Name == "Principal"
				case *ast.SelectorExpr:
					x, ok := typ.X.(*ast.Ident)
					return ok && x.Name == "identity" && typ.Sel.Name == "Principal"
				}
				return false
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CompositeLit:
					// An empty Principal{} (an error return) grants nothing.
					if isPrincipal(n.Type) && len(n.Elts) > 0 {
						found = append(found, pkg+"."+fn.Name.Name)
					}
				case *ast.ValueSpec:
					// var p Principal, filled in field by field.
					if n.Type != nil && isPrincipal(n.Type) {
						found = append(found, pkg+"."+fn.Name.Name)
					}
				case *ast.CallExpr:
					if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "new" && len(n.Args) == 1 && isPrincipal(n.Args[0]) {
						found = append(found, pkg+"."+fn.Name.Name)
					}
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(found)
	found = slices.Compact(found)
	for _, f := range found {
		if !slices.Contains(allowed, f) {
			t.Errorf("%s builds an identity.Principal: only the authenticators may (%v)", f, allowed)
		}
	}
	for _, a := range allowed {
		if !slices.Contains(found, a) {
			t.Errorf("%s no longer builds a Principal; update this test to the new authenticator", a)
		}
	}
}
