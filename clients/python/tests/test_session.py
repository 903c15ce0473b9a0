import pytest

from code_sandbox import NotFoundError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_a_session_keeps_state_shows_values_plots_and_moves_files(sb):
    with sb.session("python") as s:
        assert s.language == "python"
        assert s.run("x = 41").ok
        value = s.run("x + 1")
        assert value.text == "42"
        assert value.session_id == s.id and value.execution_count == 2

        streamed = []
        printed = s.run('print("from the kernel")\nx', on_stdout=streamed.append)
        assert "".join(streamed) == "from the kernel\n"
        assert printed.text == "41"

        plot = s.run("import matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nplt.show()")
        assert len(plot.images) == 1 and plot.images[0].startswith(PNG_MAGIC)
        # What Jupyter would show for the result and for the display itself.
        assert plot._repr_png_() == plot.images[0]
        assert [d.kind for d in plot.displays if d.png] == ["display_data"]

        frame = s.run('import pandas as pd\npd.DataFrame({"a": [1, 2]})')
        assert "<table" in frame._repr_html_()

        assert s.files.write("sales.csv", b"month,revenue\n1,120\n2,150\n") == 26
        total = s.run(
            "import csv\nrows = list(csv.DictReader(open('sales.csv')))\n"
            "open('total.txt', 'w').write(str(sum(int(r['revenue']) for r in rows)))\n"
            "len(rows)"
        )
        assert total.text == "2"
        assert s.files.read("total.txt") == b"270"
        assert s.files.read_text("total.txt") == "270"
        download = s.files.download("sales.csv")
        assert (download.path, download.mime_type, download.size) == ("sales.csv", "text/csv", 26)
        listing = {f.path: f.size for f in s.files.list()}
        assert listing["sales.csv"] == 26 and listing["total.txt"] == 3
        with pytest.raises(NotFoundError):
            s.files.read("missing.txt")
        session_id = s.id
    # Leaving the block closed it: the id is unknown to the service now.
    with pytest.raises(NotFoundError):
        sb.attach_session(session_id).run("x")
