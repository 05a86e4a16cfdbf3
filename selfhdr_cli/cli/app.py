"""The Typer application, its shared option types and help texts, and error rendering.

Command groups register on ``app`` from their own modules (``merging``, ``datasets``,
``training``). The CLI imports the core lazily inside commands, so ``--help`` stays fast.
"""

from __future__ import annotations

from enum import Enum

import typer
from rich.console import Console

from selfhdr_cli.errors import SelfHDRError

app = typer.Typer(
    name="selfhdr",
    help="Merge exposure brackets of moving scenes into ghost-free HDR images (SelfHDR, ICLR 2024).\n\n"
         "Start with [bold]selfhdr merge FRAMES...[/]: the shipped network merges one bracket onto its middle "
         "exposure, without ghosts where things moved. To adapt it to your camera, train on your own brackets; "
         "no ground truth is needed. HDR values are linear, in short-exposure units: a pixel that just saturates "
         "the shortest frame has value 1.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
err = Console(stderr=True)


class Method(str, Enum):
    net = "net"
    color = "color"
    debevec = "debevec"
    ref = "ref"


DEFAULT_METHOD = "color"  # merge.method.DEFAULT_METHOD, repeated so that --help imports no numpy (a test ties them)


def chosen_method(method: "Method | None", weights: object, tile: int = 0, device: str = "auto") -> Method:
    """--method as given; without it, ``net`` when a network flag is given (--weights, --tile,
    --device), else the default."""
    if method is not None:
        return method
    return Method.net if weights is not None or tile != 0 or device != "auto" else Method(DEFAULT_METHOD)


class Network(str, Enum):
    fastnet = "fastnet"
    ahdrnet = "ahdrnet"


class Preset(str, Enum):
    cpu = "cpu"
    gpu = "gpu"
    tiny = "tiny"
    finetune = "finetune"


class Recipe(str, Enum):
    robust = "robust"
    paper = "paper"


class Split(str, Enum):
    train = "train"
    val = "val"
    benchmark = "benchmark"
    test = "test"
    all = "all"


class Units(str, Enum):
    short = "short"
    seconds = "seconds"


EXPOSURES_HELP = ("Exposure times in seconds, one per frame in the order given ([bold]1/60,1/15,1/4[/] or "
                  "decimals), a text file of them (one per line, or 'name time' lines), or [bold]auto[/]: "
                  "estimated from the pixels. Overrides every other source.")
EV_HELP = "Exposures in stops, one per frame in the order given: [bold]-2,0,2[/] (t = 2^EV)."
REFERENCE_HELP = ("Frame whose geometry the output keeps: an index in exposure order (0 = shortest) or a file "
                  "name. Default: the middle one.")
CRF_HELP = ("Camera response: [bold]gamma:2.2[/], [bold]srgb[/], [bold]linear[/], or a [bold].json[/] "
            "written by 'selfhdr calibrate'.")
MERGE_CRF_HELP = ("Camera response: [bold]auto[/] (default): each 8-bit bracket's own curve, fitted from its frames "
                  "where the fit explains them (a note says), else gamma:2.2; [bold]gamma:2.2[/], [bold]srgb[/], "
                  "[bold]linear[/], or a [bold].json[/] from 'selfhdr calibrate'.")
WEIGHTS_HELP = "Network weights (.safetensors from 'selfhdr train'). Default: the shipped ones."
TILE_HELP = "Run the network in torch, in tiles of this many pixels (default: FastNet in numpy on a CPU)."
DEVICE_HELP = "auto (default: CUDA if present, else CPU, where FastNet runs in numpy), cpu, cuda or cuda:N."
DEFAULT_FLOW = "dis-fine"  # merge.align.DEFAULT_FLOW, repeated so that --help imports no numpy (a test ties them)
DEFAULT_CRF = "gamma:2.2"  # radiometry.response.CameraResponse() as text (a test ties them)
AUTO_CRF = "auto"  # merge's default: each 8-bit bracket's own fitted response (radiometry.bracket_response)
DEFAULT_COLOR_MERGE = "snr"  # merge.color.ColorConfig().merge (a test ties them)
DEFAULT_RECIPE = "robust"  # training.loop.DEFAULT_RECIPE (a test ties them)
FLOW_HELP = ("Optical flow that aligns the frames: dis-fine (default, chosen on the validation split), "
             "dis-medium, dis-fast, dis-ultrafast or farneback.")
NET_FLOW_HELP = FLOW_HELP + " With --method net the default is the flow the weights were trained with."
_COLOR_MERGES_TEXT = ("each pixel from every frame weighted by its signal-to-noise ratio, frames that disagree "
                       "(motion) rejected; or [bold]triangle[/]: the paper's fixed triangle weights on the short, "
                       "reference and long frames.")
COLOR_MERGE_HELP = "How the aligned frames are merged: [bold]snr[/] (default): " + _COLOR_MERGES_TEXT
TRAIN_COLOR_MERGE_HELP = ("How the aligned frames are merged (default: the --recipe's): [bold]snr[/]: "
                           + _COLOR_MERGES_TEXT)

# the panels of the command list, in this order (cli/__init__ registers merging's commands first)
MERGE_PANEL = "Merge"
TRAIN_PANEL = "Train on your own brackets (no ground truth needed)"
BENCHMARK_PANEL = "Benchmark"

# metavars: a word for what the value is, so that the help column keeps its width
FLAG = ""  # an on/off flag takes no value: no "<bool>"


def package_version() -> str:
    """The installed distribution's version, else the package's own (a source tree run in place)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("selfhdr")
    except PackageNotFoundError:
        import selfhdr_cli

        return getattr(selfhdr_cli, "__version__", "unknown")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"selfhdr {package_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, metavar=FLAG,
                                 help="Print the version and exit."),
) -> None:
    # no docstring: the app's help stays the one given to typer.Typer above
    pass


def fail(exc: SelfHDRError) -> None:
    from rich.markup import escape

    # escaped: a file name such as "[x].tif" is text, not markup
    err.print(f"[bold red]selfhdr: error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def _run_settings(crf: str, flow: str | None, color_merge: str | None = None, rigid_motion: str = "rigid",
                  white_balance: str = "camera", raw_space: str = "srgb", trust_exposures: bool = False,
                  allow_auto: bool = False):
    """The one settings value of a run, from its flags, parsed once here and passed down:
    (BracketSettings: response, RAW development, exposure trust; ColorConfig: the same response,
    alignment and color merge). ``--crf auto`` (where ``allow_auto``): each 8-bit bracket's own
    fitted response, gamma 2.2 where the fit is not kept."""
    from selfhdr_cli.merge.align import AlignConfig
    from selfhdr_cli.merge.bracket import bracket_settings
    from selfhdr_cli.merge.color import ColorConfig
    from selfhdr_cli.errors import UsageError
    from selfhdr_cli.radiometry.response import DEFAULT_RESPONSE, parse_response

    auto = crf.strip().lower() == AUTO_CRF
    if auto and not allow_auto:
        raise UsageError("--crf auto fits each bracket's own response, but training needs one response for every "
                         "bracket: pass gamma:2.2, srgb, linear, or a curve from 'selfhdr calibrate'")
    response = DEFAULT_RESPONSE if auto else parse_response(crf)
    bracket = bracket_settings(response, white_balance, raw_space, trust_exposures, fit_response=auto)
    color = ColorConfig(response=response, align=AlignConfig(flow=flow or DEFAULT_FLOW, rigid_motion=rigid_motion),
                        merge=color_merge or DEFAULT_COLOR_MERGE)
    return bracket, color


class Tonemap(str, Enum):
    reinhard = "reinhard"
    mu_law = "mu-law"
    gamma = "gamma"


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    # off a terminal a live bar would only leave a blank line in front of the messages
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=True, disable=not err.is_terminal)


def _train_progress():
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    # off a terminal a live bar would only leave a blank line in front of the messages
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=err,
                    disable=not err.is_terminal)


DATASET_HELP = ("Folder of unlabelled brackets, one subfolder per scene (Kalantari layout); ground truth is "
                "never read.")
WORK_HELP = ("Work folder for the color merges, the structure network's outputs, checkpoints and weights "
             "(default <DATASET>.selfhdr).")
_PRESETS_TEXT = ("[bold]cpu[/]: 3000 steps a stage, batch 8; both stages in about 24 min on 2 cores. [bold]gpu[/]: "
                 "the published 180 k steps, batch 16. [bold]tiny[/]: a smoke test. [bold]finetune[/]: 600 steps at "
                 "lr 1e-4, minutes. Flags below override it.")
PRESET_HELP = "Schedule (default: [bold]cpu[/], or [bold]finetune[/] with --init). " + _PRESETS_TEXT
STRUCTURE_PRESET_HELP = "Schedule (default: [bold]cpu[/]). " + _PRESETS_TEXT
VAL_HELP = "A labelled dataset (<scene>/HDRImg.hdr) to report PSNR-μ on during training."

# the help panels of the training commands
SCHEDULE_PANEL = "Schedule"
RECIPE_PANEL = "Recipe"
VALIDATION_PANEL = "Validation"
MACHINE_PANEL = "Machine"
ABLATION_PANEL = "Ablations"


# options shared by train-structure and train (Typer option objects are plain metadata)
WORK_OPTION = typer.Option(None, "--work", help=WORK_HELP, metavar="DIR")
PRESET_OPTION = typer.Option(None, "--preset", help=PRESET_HELP, show_default=False, metavar="PRESET",
                             rich_help_panel=SCHEDULE_PANEL)
STRUCTURE_PRESET_OPTION = typer.Option(None, "--preset", help=STRUCTURE_PRESET_HELP, show_default=False,
                                       metavar="PRESET", rich_help_panel=SCHEDULE_PANEL)
BATCH_OPTION = typer.Option(None, "--batch", min=1, help="Crops per step (per process).", metavar="N",
                            rich_help_panel=SCHEDULE_PANEL)
CROP_OPTION = typer.Option(None, "--crop", min=32, help="Crop size in pixels (128 published).", metavar="PX",
                           rich_help_panel=SCHEDULE_PANEL)
LR_OPTION = typer.Option(None, "--lr", help="Adam learning rate (halved at 1/3 and 2/3 of the steps).", metavar="LR",
                         rich_help_panel=SCHEDULE_PANEL)
SEED_OPTION = typer.Option(0, "--seed", help="Seed of the weights and the data order.", metavar="N",
                           rich_help_panel=SCHEDULE_PANEL)
VAL_OPTION = typer.Option(None, "--val", help=VAL_HELP, metavar="DIR", rich_help_panel=VALIDATION_PANEL)
VAL_LIMIT_OPTION = typer.Option(0, "--val-limit", min=0, help="Use only the first N scenes of --val (0 = all).",
                                metavar="N", show_default=False, rich_help_panel=VALIDATION_PANEL)
VAL_EVERY_OPTION = typer.Option(None, "--val-every", min=1, help="Validate every N steps.", metavar="N",
                                rich_help_panel=VALIDATION_PANEL)
THREADS_OPTION = typer.Option(None, "--threads", min=1, metavar="N", rich_help_panel=MACHINE_PANEL,
                              help="CPU threads (default: all cores, shared under torchrun).")
STEPS_OPTION = typer.Option(None, "--steps", min=1, help="Training steps (per stage).", metavar="N",
                            rich_help_panel=SCHEDULE_PANEL)
RESUME_OPTION = typer.Option(False, "--resume", metavar=FLAG,
                             help="Continue from the checkpoints in the work folder (there must be one).")
TRAIN_DEVICE_OPTION = typer.Option("auto", "--device", help=DEVICE_HELP, metavar="DEVICE", show_default=False,
                                   rich_help_panel=MACHINE_PANEL)
CRF_OPTION = typer.Option(DEFAULT_CRF, "--crf", help=CRF_HELP, metavar="CRF")
MERGE_CRF_OPTION = typer.Option(AUTO_CRF, "--crf", help=MERGE_CRF_HELP, metavar="CRF")
TRAIN_CRF_OPTION = typer.Option(DEFAULT_CRF, "--crf", help=CRF_HELP, metavar="CRF", rich_help_panel=RECIPE_PANEL)
FLOW_OPTION = typer.Option(None, "--flow", help=FLOW_HELP, show_default=False, metavar="FLOW")
TRAIN_FLOW_OPTION = typer.Option(None, "--flow", help=FLOW_HELP, show_default=False, metavar="FLOW",
                                 rich_help_panel=RECIPE_PANEL)
COLOR_MERGE_OPTION = typer.Option(None, "--color-merge", show_default=False, metavar="MERGE",
                                   help=COLOR_MERGE_HELP)
TRAIN_COLOR_MERGE_OPTION = typer.Option(None, "--color-merge", show_default=False, metavar="MERGE",
                                         help=TRAIN_COLOR_MERGE_HELP, rich_help_panel=RECIPE_PANEL)
MASKED_FRAMES_OPTION = typer.Option(None, "--masked-frames", min=0.0, max=1.0, metavar="SHARE",
                                    rich_help_panel=ABLATION_PANEL,
                                    help="Share of stage-2 crops whose other frames are masked where they agree, "
                                         "so that a guided FastNet learns to rebuild the color merge from the "
                                         "reference (0, the recipes' default, turns it off).")
RECIPE_OPTION = typer.Option(Recipe(DEFAULT_RECIPE), "--recipe", metavar="RECIPE", show_default=False,
                             rich_help_panel=RECIPE_PANEL,
                             help="[bold]robust[/] (default): the SNR color merge, after a rigid global motion "
                                  "when the camera moved, and a FastNet that keeps it where the frames agree. "
                                  "[bold]paper[/]: the paper as written (triangle weights, flow alone, unguided "
                                  "FastNet).")
SP_WEIGHT_OPTION = typer.Option(None, "--sp-weight", min=0.0, max=100.0, metavar="W", rich_help_panel=ABLATION_PANEL,
                                help="Weight of stage 1's structure-preservation loss, which keeps the structure "
                                     "network close to the reference where it is well exposed (default 4, the "
                                     "paper's).")
