import sys
sys.path.insert(0, "examples/experiments")
import report
text = open("docs/results.md").read()
i = text.index("## 5. Defaults")
new = text[:i] + report.defaults_section() + report.images_section()
if "--check" in sys.argv:
    print("same" if new == text else "differs")
else:
    open("docs/results.md", "w").write(new)
