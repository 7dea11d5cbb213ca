package io.mambaflink.operators;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;

/** Local checkpoint folders of a job run on a MiniCluster (the replay and demo commands, benchmarks). */
public final class LocalCheckpoints {
    private LocalCheckpoints() {}

    /**
     * Deletes {@code dir} and what it holds, as far as it can, after the job: Flink's own asynchronous cleanup may still
     * be removing files and folders in it (a file listed and gone a moment later once failed the replay command), so
     * what vanishes meanwhile is skipped, and a folder that something wrote into meanwhile is left.
     *
     * @return false when something could not be deleted
     */
    public static boolean delete(Path dir) {
        boolean[] all = {true};
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                    all[0] &= deleteIfExists(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException e) {
                    all[0] &= !Files.exists(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException e) {
                    all[0] &= deleteIfExists(d);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            return false;
        }
        return all[0];
    }

    private static boolean deleteIfExists(Path p) {
        try {
            Files.deleteIfExists(p);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
