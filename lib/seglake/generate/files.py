"""Deterministic file names in the landing zone, through Hadoop's FileSystem API.

Spark names part files with a random UUID and leaves _SUCCESS and .crc files behind. Each
chunk is therefore written to a scratch folder and its part files are renamed to fixed
names; going through Hadoop's FileSystem (not os/shutil) makes this work the same on
local disk, HDFS and object stores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pyspark.sql import SparkSession

SCRATCH = "_generator_scratch"


class LandingFiles:
    """Owns landing/<folder> for the generated sources and a scratch folder beside them."""

    def __init__(self, spark: SparkSession, landing: str) -> None:
        jvm = spark.sparkContext._jvm  # noqa: SLF001 - Hadoop FS is only reachable this way
        self._path = jvm.org.apache.hadoop.fs.Path
        root = self._path(landing)
        fs = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())  # noqa: SLF001
        # The local checksummed FS would carry .crc files along with each rename.
        checksummed = jvm.java.lang.Class.forName("org.apache.hadoop.fs.ChecksumFileSystem")
        self._fs = fs.getRawFileSystem() if checksummed.isInstance(fs) else fs
        self.root = fs.makeQualified(root).toString()

    def child(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def scratch(self, name: str) -> str:
        return self.child(SCRATCH, name)

    def delete(self, folders: Iterable[str]) -> None:
        for folder in folders:
            self._fs.delete(self._path(self.child(folder)), True)

    def delete_scratch(self) -> None:
        self.delete([SCRATCH])

    def publish(self, scratch: str, folder: str, name: Callable[[int], str]) -> None:
        """Move scratch part files to landing/<folder>/name(partition), drop the scratch.

        The partition number Spark puts in the part file name ("part-00001-...") is kept,
        so a given partition always lands in the same file.
        """
        target = self._path(self.child(folder))
        self._fs.mkdirs(target)
        for status in self._fs.listStatus(self._path(scratch)):
            source = status.getPath()
            filename = source.getName()
            if not filename.startswith("part-"):
                continue
            destination = self._path(target, name(int(filename[5:10])))
            if not self._fs.rename(source, destination):
                raise OSError(f"could not move {source} to {destination}")
        self._fs.delete(self._path(scratch), True)
