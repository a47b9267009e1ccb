// vpet-report's library: labels from paths and objects, the statistics of
// a table, its four renderings and the gnuplot scripts' quoting.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "vpet/error.h"
#include "vpet/report/gnuplot.h"
#include "vpet/report/plots.h"
#include "vpet/report/runs.h"
#include "vpet/report/summary.h"
#include "vpet/report/table.h"

namespace {

namespace fs = std::filesystem;
using namespace vpet::report;

EvalRun run(const std::string& task, const std::string& method, std::optional<std::int64_t> seed,
            double top1, std::int64_t params = 1000) {
  EvalRun r;
  r.labels = {task, method, seed};
  r.source = task + "/" + method + ".json:1";
  r.report = {{"top1", top1},
              {"params_trainable", params},
              {"params_trainable_with_head", params + 10},
              {"training", {{"seconds", 2.0}}}};
  return r;
}

// A scratch folder removed with the test.
struct Scratch {
  fs::path root = fs::temp_directory_path() / ("report_test." + std::to_string(getpid()));
  Scratch() { fs::create_directories(root); }
  ~Scratch() { fs::remove_all(root); }
  std::string write(const std::string& name, const std::string& text) const {
    const fs::path path = root / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }
};

TEST(NamePattern, TakesFieldsFromThePathsEnd) {
  const NamePattern pattern("{task}/{method}-s{seed}.json");
  const auto labels = pattern.match("out/vtab/cifar/self-prompt-s2.json");
  ASSERT_TRUE(labels);
  EXPECT_EQ(labels->task, "cifar");
  EXPECT_EQ(labels->method, "self-prompt");
  EXPECT_EQ(labels->seed, 2);
  EXPECT_FALSE(pattern.match("out/cifar/lora.json"));
  EXPECT_FALSE(pattern.match("out/cifar/lora-sX.json"));
  EXPECT_EQ(NamePattern("{method}.json").match("a/b/lora.json")->method, "lora");
  EXPECT_TRUE(NamePattern("*/{method}.json").match("a/b/lora.json"));
  EXPECT_THROW(NamePattern("{tsk}.json"), vpet::UsageError);
  EXPECT_THROW(NamePattern("plain.json"), vpet::UsageError);
  EXPECT_THROW(NamePattern("{task}/{task}.json"), vpet::UsageError);
}

TEST(TaskOfData, NamesTheFolderOfTheDataSet) {
  EXPECT_EQ(task_of_data("/data/vtab-1k/cifar/test.txt"), "cifar");
  EXPECT_EQ(task_of_data("list:vtab-1k/dtd/train800val200.txt"), "dtd");
  EXPECT_EQ(task_of_data("fgvc/CUB_200_2011/test.json"), "CUB_200_2011");
  EXPECT_EQ(task_of_data("images/flowers/test/"), "flowers");
  EXPECT_EQ(task_of_data("images/flowers"), "flowers");
}

TEST(ReadInputs, RecognisesReportsAndLogsAndKeepsTheLastOfAResumedStep) {
  Scratch scratch;
  const std::string report = scratch.write(
      "cifar/lora-s1.json",
      R"({"top1": 70.5, "params_trainable": 5, "method": "lora", "data": "v/dtd/test.txt", "seed": 1})"
      "\n\n"
      R"({"top1": 60, "params_trainable": 5, "method": "bitfit", "task": "own", "seed": null})"
      "\n");
  const std::string log =
      scratch.write("cifar/lora.metrics.jsonl",
                    R"({"type":"run","method":"lora","data":"v/cifar/train.txt","seed":3})"
                    "\n"
                    R"({"type":"step","epoch":1,"step":1,"loss":2.0,"lr":0.1})"
                    "\n"
                    R"({"type":"step","epoch":1,"step":2,"loss":1.5,"lr":0.1})"
                    "\n"
                    R"({"type":"step","epoch":1,"step":2,"loss":1.4,"lr":0.1})"
                    "\n"
                    R"({"type":"step","epoch":1,"step":3,"loss":null,"lr":0.05})"
                    "\n"
                    R"({"type":"eval","epoch":1,"step":3,"top1":50})"
                    "\n"
                    R"({"type":"summary","epochs":1,"steps":3})"
                    "\n");
  const Inputs inputs = read_inputs({report, log}, nullptr);
  ASSERT_EQ(inputs.evals.size(), 2u);
  EXPECT_EQ(inputs.evals[0].labels.task, "dtd");  // the data set's folder
  EXPECT_EQ(inputs.evals[0].labels.seed, 1);
  EXPECT_EQ(inputs.evals[0].source, report + ":1");
  EXPECT_EQ(inputs.evals[1].labels.task, "own");
  EXPECT_FALSE(inputs.evals[1].labels.seed);
  EXPECT_EQ(inputs.evals[1].source, report + ":3");
  ASSERT_EQ(inputs.curves.size(), 1u);
  const CurveRun& curve = inputs.curves[0];
  EXPECT_EQ(curve.labels.method, "lora");
  EXPECT_EQ(curve.labels.task, "cifar");
  EXPECT_EQ(curve.labels.seed, 3);
  ASSERT_EQ(curve.loss.size(), 2u);  // step 2 once (its last value), step 3's null a gap
  EXPECT_DOUBLE_EQ(curve.loss[1].value, 1.4);
  EXPECT_EQ(curve.lr.size(), 3u);
  ASSERT_EQ(curve.val_top1.size(), 1u);

  // The pattern's fields win over the objects'.
  const NamePattern pattern("{task}/{method}-s{seed}.json");
  const Inputs named = read_inputs({report}, &pattern);
  EXPECT_EQ(named.evals[1].labels.task, "cifar");
  EXPECT_EQ(named.evals[1].labels.method, "lora");
  EXPECT_EQ(named.evals[1].labels.seed, 1);
}

TEST(ReadInputs, NamesTheFileAndLineOfWhatItCannotRead) {
  Scratch scratch;
  auto message = [&](const std::string& text) {
    const std::string path = scratch.write("bad.json", text);
    try {
      read_inputs({path}, nullptr);
    } catch (const vpet::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string bad = (scratch.root / "bad.json").string();
  EXPECT_EQ(message("{\"top1\": 1, \"method\": \"m\"}\n{oops\n"), bad + ":2: not JSON");
  EXPECT_EQ(message("[{\"top1\": 1, \"method\": \"m\"}, 2]\n"), bad + ":item 2: not a JSON object");
  EXPECT_EQ(message("7\n"), bad + ":1: not a JSON object");
  EXPECT_NE(message("{\"a\": 1}\n").find(bad + ":1: neither a peft-eval"), std::string::npos);
  EXPECT_EQ(message("{\"top1\": 1}\n"), bad + ":1: no \"method\", and --name-pattern gives none");
  EXPECT_EQ(message("{\"top1\": 1, \"method\": \"m\", \"seed\": \"x\"}\n"),
            bad + ":1: \"seed\" is not an integer");
  EXPECT_EQ(message("{\"type\": \"step\", \"loss\": 1}\n"),
            bad + ":1: a \"step\" line without a step");
  const NamePattern pattern("{method}-s{seed}.json");
  const std::string path = scratch.write("lora.json", "{\"top1\": 1}\n");
  EXPECT_THROW(read_inputs({path}, &pattern), vpet::Error);
}

TEST(ReadInputs, ReadsOnePrettyPrintedDocumentOrAnArray) {
  Scratch scratch;
  const std::string object =
      scratch.write("t/a.json", "{\n  \"top1\": 1,\n  \"method\": \"m\"\n}\n");
  const std::string array = scratch.write(
      "t/b.json", "[{\"top1\": 2, \"method\": \"m\"},\n {\"top1\": 3, \"method\": \"n\"}]");
  const Inputs inputs = read_inputs({object, array}, nullptr);
  ASSERT_EQ(inputs.evals.size(), 3u);
  EXPECT_EQ(inputs.evals[0].source, object + ":1");
  EXPECT_EQ(inputs.evals[2].source, array + ":item 2");
  EXPECT_EQ(inputs.evals[2].labels.task, "t");  // the folder holding the file
}

TEST(InputFiles, FindsJsonBelowFoldersInSortedOrder) {
  Scratch scratch;
  scratch.write("b/x.json", "");
  scratch.write("a/y.jsonl", "");
  scratch.write("a/z.vpet", "");
  scratch.write("a/y.json.tmp", "");
  const std::vector<std::string> files = input_files({scratch.root.string()});
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], (scratch.root / "a/y.jsonl").string());
  EXPECT_EQ(files[1], (scratch.root / "b/x.json").string());
  EXPECT_THROW(input_files({(scratch.root / "missing").string()}), vpet::Error);
  scratch.write("empty/notes.txt", "");
  EXPECT_THROW(input_files({(scratch.root / "empty").string()}), vpet::Error);
}

std::vector<EvalRun> vtab_runs() {
  // Seeds 0 and 1 of one method on a task of each VTAB group, and one more
  // Natural task: the numbers of examples/vtab1k's former aggregate test.
  return {run("cifar", "m", 0, 50), run("cifar", "m", 1, 70),   run("dtd", "m", 0, 80),
          run("dtd", "m", 1, 80),   run("eurosat", "m", 0, 90), run("eurosat", "m", 1, 90),
          run("dmlab", "m", 0, 30), run("dmlab", "m", 1, 50),   run("cifar", "linear", 0, 40, 0)};
}

TEST(Summary, MeansOverSeedsGroupsAndBothVtabMeans) {
  SummaryOptions options;
  options.groups = vtab_groups();
  options.extra = {parse_extra_column("train s=training.seconds")};
  const Summary summary = summarize(vtab_runs(), options);
  EXPECT_EQ(summary.methods, (std::vector<std::string>{"m", "linear"}));
  EXPECT_EQ(summary.tasks, (std::vector<std::string>{"cifar", "dtd", "eurosat", "dmlab"}));
  ASSERT_EQ(summary.groups.size(), 3u);
  EXPECT_DOUBLE_EQ(summary.cells[0][0].mean, 60);
  EXPECT_NEAR(summary.cells[0][0].std, 14.142135623730951, 1e-12);  // sample deviation
  EXPECT_DOUBLE_EQ(*summary.group_mean(0, 0), 70);
  EXPECT_NEAR(*summary.mean_of_group_means(0), (70 + 90 + 40) / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(*summary.mean_of_tasks(0), 67.5);
  EXPECT_DOUBLE_EQ(*summary.extra_values[0][0], 2.0);
  // linear ran on cifar only: its means are missing, not partial.
  EXPECT_FALSE(summary.mean_of_tasks(1));
  EXPECT_FALSE(summary.group_mean(1, 0));
  EXPECT_EQ(summary.cells[1][1].runs, 0);
  EXPECT_EQ(summary.headline_label(), "mean top-1 of 3 group means (4 tasks)");

  const Table table = make_table(summary, 2);
  EXPECT_EQ(render_table(table, TableFormat::kTsv),
            "method\tcifar\tdtd\teurosat\tdmlab\tNatural\tSpecialized\tStructured\t"
            "mean of 3 group means\tmean of 4 tasks\tparams (M, no head)\ttrain s\n"
            "m\t60.00 ± 14.14\t80.00 ± 0.00\t90.00 ± 0.00\t40.00 ± 14.14\t70.00\t90.00\t40.00\t"
            "66.67\t67.50\t0.0010\t2.00\n"
            "linear\t40.00\t-\t-\t-\t-\t-\t-\t-\t-\t0.0000\t2.00\n");
}

TEST(Summary, RefusesTheSameSeedTwiceAndUnknownNames) {
  std::vector<EvalRun> runs = {run("a", "m", 0, 1), run("a", "m", 0, 2)};
  EXPECT_THROW(summarize(runs, {}), vpet::Error);
  // Runs without a seed are each a run.
  EXPECT_EQ(summarize({run("a", "m", {}, 1), run("a", "m", {}, 3)}, {}).cells[0][0].runs, 2);
  SummaryOptions options;
  options.methods = {"other"};
  EXPECT_THROW(summarize({run("a", "m", 0, 1)}, options), vpet::Error);
  EXPECT_THROW(summarize({}, {}), vpet::Error);
  EvalRun without_metric = run("a", "m", 0, 1);
  without_metric.report.erase("top1");
  EXPECT_THROW(summarize({without_metric}, {}), vpet::Error);
  EXPECT_THROW(parse_group("Natural"), vpet::UsageError);
  EXPECT_THROW(parse_group("Natural=a,,b"), vpet::UsageError);
  EXPECT_THROW(parse_extra_column("=x"), vpet::UsageError);
}

TEST(Table, RendersTextMarkdownAndLatex) {
  SummaryOptions options;
  options.methods = {"lo_ra", "linear"};
  options.with_head = true;
  const Summary summary = summarize(
      {run("t&1", "lo_ra", 0, 60), run("t&1", "lo_ra", 1, 62), run("t&1", "linear", 0, 55, 0)},
      options);
  const Table table = make_table(summary, 1);
  EXPECT_EQ(render_table(table, TableFormat::kText),
            "method         t&1  params (M, with head)\n"
            "lo_ra   61.0 ± 1.4                 0.0010\n"
            "linear        55.0                 0.0000\n");
  EXPECT_EQ(render_table(table, TableFormat::kMarkdown),
            "| method | t&1 | params (M, with head) |\n"
            "| :--- | ---: | ---: |\n"
            "| lo_ra | 61.0 ± 1.4 | 0.0010 |\n"
            "| linear | 55.0 | 0.0000 |\n");
  EXPECT_EQ(render_table(table, TableFormat::kLatex),
            "\\begin{tabular}{lrr}\n\\toprule\n"
            "method & t\\&1 & params (M, with head) \\\\\n\\midrule\n"
            "lo\\_ra & 61.0 $\\pm$ 1.4 & 0.0010 \\\\\n"
            "linear & 55.0 & 0.0000 \\\\\n"
            "\\bottomrule\n\\end{tabular}\n");
  EXPECT_THROW(parse_table_format("html"), vpet::UsageError);
}

TEST(Plots, ScriptsQuoteNamesAndTakeTitlesFromTheData) {
  EXPECT_EQ(gnuplot_quote("it's\nhere"), "'it''s here'");
  SummaryOptions options;
  const Summary summary =
      summarize({run("pets", "lora", 0, 80, 300000), run("pets", "linear", 0, 70, 0)}, options);
  const std::string script = params_plot_script(summary, FigureFormat::kPng);
  EXPECT_NE(script.find("set title 'top-1 on pets against trainable parameters'"),
            std::string::npos);
  EXPECT_NE(script.find("set logscale x"), std::string::npos);
  EXPECT_NE(script.find("'linear (no trainable parameters)'"), std::string::npos);
  EXPECT_NE(script.find("300000\t80\t0\tlora\n"), std::string::npos);
  EXPECT_EQ(figure_format_of("a/b.svg", "--plot-params"), FigureFormat::kSvg);
  EXPECT_THROW(figure_format_of("a/b.pdf", "--plot-params"), vpet::UsageError);
  // Only a linear probe: nothing to put on a log axis.
  EXPECT_THROW(
      params_plot_script(summarize({run("pets", "linear", 0, 70, 0)}, options), FigureFormat::kPng),
      vpet::Error);

  CurveRun curve;
  curve.labels = {"pets", "lora", 4};
  curve.loss = {{1, 2.0}, {2, 1.0}};
  const std::string curves = curves_plot_script({curve}, FigureFormat::kSvg);
  EXPECT_NE(curves.find("title 'training of lora on pets, seed 4'"), std::string::npos);
  EXPECT_NE(curves.find("set multiplot layout 1,1"), std::string::npos);  // no lr, no evaluation
  EXPECT_THROW(curves_plot_script({CurveRun{}}, FigureFormat::kPng), vpet::Error);
}

}  // namespace
