package io.mambaflink.kernels.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The rule that makes programmatic edges in the step graphs safe (ProgrammaticEdges, mf_grid_dep in common.cuh), checked
 * on the kernel sources, so it holds without a GPU: every kernel reaches mf_grid_dep(), and no function does anything
 * before its call to it that depends on another kernel of the step: it neither returns, nor reads the states or any
 * activation. The control block (the row count, the slots) may be read before it: the step copies it in before its first
 * kernel. The one exception for states is {@link #OWN_STATE_BEFORE_WAIT}. (Whether the weights read before it are really
 * weights is left to review.)
 */
class KernelSourcesTest {
    private static final Pattern GLOBAL = Pattern.compile(
            "__global__\\s+(?:__launch_bounds__\\([^)]*\\)\\s*)?void\\s+(?:__launch_bounds__\\([^)]*\\)\\s*)?([\\w#]+)\\s*\\(");
    private static final Pattern DEVICE = Pattern.compile("MF_DEVICE\\s+[\\w:<>*&\\s]+?\\b(\\w+)\\s*\\(");
    /** What a function may not touch before mf_grid_dep(): a return, or names of what other kernels write or set. */
    private static final Pattern BEFORE_WAIT = Pattern.compile(
            "\\breturn\\b|\\bstates\\b|\\bx\\[|\\bxc\\b|\\bdbc\\b|\\by\\[|\\bz\\[|\\bhidden\\b|\\bproj\\b");
    /**
     * Functions that read their layer's state rows before mf_grid_dep(): Mamba-1's state update, the only kernel of a step
     * that reads or writes a layer's SSM state (the conv kernels own the conv part, at another offset), so nothing before
     * it in the step can have changed what it reads.
     */
    private static final Set<String> OWN_STATE_BEFORE_WAIT = Set.of("ssm1_fast");

    @Test
    void everyKernelWaitsForTheKernelBeforeItBeforeTouchingWhatItWrote() throws IOException {
        String src = sources();
        Map<String, String> functions = new HashMap<>();
        Matcher d = DEVICE.matcher(src);
        while (d.find()) {
            String body = body(src, d.end() - 1);
            if (body != null) {
                functions.merge(d.group(1), body, (a, b) -> a + b);
            }
        }
        // functions that reach mf_grid_dep, directly or through one that does
        Set<String> waiting = new HashSet<>();
        boolean grew = true;
        while (grew) {
            grew = false;
            for (var f : functions.entrySet()) {
                if (!waiting.contains(f.getKey()) && reaches(f.getValue(), waiting)) {
                    grew = waiting.add(f.getKey());
                }
            }
        }
        Map<String, String> kernels = new HashMap<>();
        List<String> missing = new ArrayList<>();
        Matcher g = GLOBAL.matcher(src);
        while (g.find()) {
            String body = body(src, g.end() - 1);
            if (body == null || !reaches(body, waiting)) {
                missing.add(g.group(1));
            } else {
                kernels.put(g.group(1), body);
            }
        }
        assertThat(kernels.size() + missing.size()).as("kernels found in the sources").isGreaterThan(30);
        assertThat(missing).as("kernels that never call mf_grid_dep()").isEmpty();
        List<String> early = new ArrayList<>();
        for (Map<String, String> bodies : List.of(functions, kernels)) {
            for (var f : bodies.entrySet()) {
                int at = f.getValue().indexOf("mf_grid_dep(");
                if (at >= 0) {
                    Matcher m = BEFORE_WAIT.matcher(f.getValue().substring(0, at));
                    while (m.find()) {
                        if (!(m.group().equals("states") && OWN_STATE_BEFORE_WAIT.contains(f.getKey()))) {
                            early.add(f.getKey() + ": '" + m.group() + "'");
                            break;
                        }
                    }
                }
            }
        }
        assertThat(early).as("functions that touch what other kernels write before mf_grid_dep()").isEmpty();
    }

    /** True when {@code body} calls mf_grid_dep or one of {@code waiting}. */
    private static boolean reaches(String body, Set<String> waiting) {
        if (body.contains("mf_grid_dep(")) {
            return true;
        }
        for (String w : waiting) {
            if (Pattern.compile("\\b" + w + "\\s*[<(]").matcher(body).find()) {
                return true;
            }
        }
        return false;
    }

    /**
     * The body of the function whose parameter list opens at {@code open}: the text between the braces after the
     * matching ')', or null for a declaration.
     */
    private static String body(String src, int open) {
        int depth = 0;
        int i = open;
        for (; i < src.length(); i++) {
            char c = src.charAt(i);
            if (c == '(') {
                depth++;
            } else if (c == ')' && --depth == 0) {
                break;
            }
        }
        int b = i + 1;
        while (b < src.length() && (Character.isWhitespace(src.charAt(b)) || src.charAt(b) == '\\')) {
            b++;
        }
        if (b >= src.length() || src.charAt(b) != '{') {
            return null;
        }
        depth = 0;
        for (int j = b; j < src.length(); j++) {
            char c = src.charAt(j);
            if (c == '{') {
                depth++;
            } else if (c == '}' && --depth == 0) {
                return src.substring(b + 1, j);
            }
        }
        throw new IllegalStateException("unbalanced braces after offset " + b);
    }

    /** Every .cu and .cuh of the kernels, comments removed (the module directory under Maven, the repository root on the GPU machine). */
    private static String sources() throws IOException {
        Path dir = Stream.of(Path.of("src/main/cuda"), Path.of("kernels/src/main/cuda")).filter(Files::isDirectory).findFirst()
                .orElseThrow(() -> new IllegalStateException("kernel sources not found from " + Path.of("").toAbsolutePath()));
        StringBuilder all = new StringBuilder();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path p : files.filter(f -> f.toString().endsWith(".cu") || f.toString().endsWith(".cuh")).sorted().toList()) {
                all.append(Files.readString(p)).append('\n');
            }
        }
        return all.toString().replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\n]*", " ");
    }
}
