"""`make gallery` renders every picture as a PNG of the asked size."""
import struct

from webapp.graph import gallery


def test_gallery_writes_every_picture(tmp_path, capsys):
    assert gallery.main([str(tmp_path / "out")]) == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    expected = sorted(name for name, _, _ in gallery.gallery())
    assert names == expected and "no-data.png" in names and "pie.png" in names
    for name, _, params in gallery.gallery():
        data = (tmp_path / "out" / name).read_bytes()
        assert struct.unpack(">II", data[16:24]) == (int(params["width"]),
                                                     int(params["height"]))
    assert "one-series.png" in capsys.readouterr().out
