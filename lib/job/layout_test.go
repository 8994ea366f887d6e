package job_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every job has the one shape README's layout section describes, and only
// the actuator knows dry-run: no job's code branches on it.
func TestEveryJobHasTheSameShape(t *testing.T) {
	dirs, err := os.ReadDir("../../jobs")
	require.NoError(t, err)
	jobs := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		jobs++
		dir := filepath.Join("../../jobs", d.Name())
		files := map[string]*ast.File{}
		fset := token.NewFileSet()
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
			require.NoError(t, err)
			files[e.Name()] = f
		}
		has := func(file, fn string) bool {
			f, ok := files[file]
			if !ok {
				return false
			}
			for _, decl := range f.Decls {
				if fd, ok := decl.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == fn {
					return true
				}
			}
			return false
		}
		assert.True(t, has("main.go", "run"), "jobs/%s: run is in main.go", d.Name())
		_, observe := files["observe.go"]
		assert.True(t, observe, "jobs/%s has observe.go", d.Name())
		assert.True(t, has("plan.go", "plan"), "jobs/%s: plan is in plan.go", d.Name())
		_, err = os.Stat(filepath.Join(dir, "plan_test.go"))
		assert.NoError(t, err, "jobs/%s: the plan is tested by table in plan_test.go", d.Name())
		for name, f := range files {
			ast.Inspect(f, func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok && strings.EqualFold(id.Name, "dryrun") {
					t.Errorf("jobs/%s/%s:%d uses %s: only the actuator knows dry-run", d.Name(), name, fset.Position(id.Pos()).Line, id.Name)
				}
				return true
			})
		}
	}
	assert.Equal(t, 10, jobs, "the ten jobs")
}
