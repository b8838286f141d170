// The official ElevenLabs JavaScript SDK's realtime speech to text (speechToText.realtime.connect) and
// single-use tokens (tokens.singleUse.create), unmodified, against a running Chorus server.
//
// Environment: CHORUS_BASE_URL (e.g. http://127.0.0.1:8000), CHORUS_API_KEY, CHORUS_VOICE_ID.
// Prints one JSON line per check: {"check": name, "ok": true|false, "detail": ...}
// and exits 1 when any check failed (2 when the environment is incomplete).

import { Buffer } from "node:buffer";
import { createRequire } from "node:module";

import { AudioFormat, CommitStrategy, ElevenLabsClient, RealtimeEvents } from "@elevenlabs/elevenlabs-js";

const baseUrl = process.env.CHORUS_BASE_URL;
const apiKey = process.env.CHORUS_API_KEY;
const voiceId = process.env.CHORUS_VOICE_ID;
if (!baseUrl || !apiKey || !voiceId) {
    console.error("stt_realtime_contract: set CHORUS_BASE_URL, CHORUS_API_KEY and CHORUS_VOICE_ID");
    process.exit(2);
}

const sdkVersion = createRequire(import.meta.url)("@elevenlabs/elevenlabs-js/package.json").version;
const client = new ElevenLabsClient({ apiKey, baseUrl, maxRetries: 0, timeoutInSeconds: 120 });
const SENTENCE = "Please remember to lock the front door tonight.";
const MODEL = "scribe_v2_realtime";
const TIMEOUT_MS = 60000;
const results = [];

class CheckFailed extends Error {}

function expect(condition, message) {
    if (!condition) throw new CheckFailed(message);
}

async function check(name, fn) {
    let line;
    try {
        const detail = await fn();
        line = { check: name, ok: true, detail: detail ?? null };
    } catch (err) {
        const detail = { error: String(err?.message ?? err) };
        if (!(err instanceof CheckFailed) && err?.stack) detail.stack = err.stack.split("\n").slice(0, 6).join("\n");
        line = { check: name, ok: false, detail };
    }
    results.push(line);
    console.log(JSON.stringify(line));
    return line.ok;
}

/** Word error rate of `hypothesis` against `reference` (lower case, punctuation ignored). */
function wordErrorRate(reference, hypothesis) {
    const words = (text) => text.toLowerCase().replace(/[^a-z0-9' ]/g, " ").split(/\s+/).filter(Boolean);
    const ref = words(reference);
    const hyp = words(hypothesis);
    let row = Array.from({ length: hyp.length + 1 }, (_, j) => j);
    for (let i = 1; i <= ref.length; i++) {
        const next = [i];
        for (let j = 1; j <= hyp.length; j++) {
            next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (ref[i - 1] === hyp[j - 1] ? 0 : 1));
        }
        row = next;
    }
    return row[hyp.length] / Math.max(1, ref.length);
}

/** Every event of a connection, recorded from the moment it is created, and a way to wait for one. */
function record(connection) {
    const events = [];
    const waiters = [];
    for (const name of Object.values(RealtimeEvents)) {
        connection.on(name, (data) => {
            events.push({ name, data });
            for (const waiter of [...waiters]) waiter();
        });
    }
    const of = (name) => events.filter((e) => e.name === name).map((e) => e.data);
    const waitFor = (...names) =>
        new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new CheckFailed(`timed out waiting for ${names.join(" or ")}; got ${JSON.stringify(events.map((e) => e.name))}`)), TIMEOUT_MS);
            const waiter = () => {
                const found = events.find((e) => names.includes(e.name));
                if (found) {
                    clearTimeout(timer);
                    waiters.splice(waiters.indexOf(waiter), 1);
                    resolve(found.data);
                }
            };
            waiters.push(waiter);
            waiter();
        });
    return { events, of, waitFor };
}

async function readAll(stream) {
    const parts = [];
    for await (const part of stream) parts.push(Buffer.from(part));
    return Buffer.concat(parts);
}

function sendAudio(connection, pcm) {
    const step = 3200; // 100 ms at 16 kHz
    for (let start = 0; start < pcm.length; start += step) {
        connection.send({ audioBase64: pcm.subarray(start, start + step).toString("base64") });
    }
}

const speech = await readAll(await client.textToSpeech.convert(voiceId, { text: SENTENCE, outputFormat: "pcm_16000" }));
const silence = (seconds) => Buffer.alloc(2 * Math.round(16000 * seconds));

await check("speechToText.realtime.manual", async () => {
    const connection = await client.speechToText.realtime.connect({
        modelId: MODEL,
        audioFormat: AudioFormat.PCM_16000,
        sampleRate: 16000,
        commitStrategy: CommitStrategy.MANUAL,
        includeTimestamps: true,
    });
    const rec = record(connection);
    const started = await rec.waitFor(RealtimeEvents.SESSION_STARTED);
    expect(started.config.commit_strategy === "manual", `config ${JSON.stringify(started.config)}`);
    expect(started.config.vad_commit_strategy === "manual", `config ${JSON.stringify(started.config)}`);
    sendAudio(connection, Buffer.concat([speech, silence(0.3)]));
    const partial = await rec.waitFor(RealtimeEvents.PARTIAL_TRANSCRIPT);
    expect(partial.text, "an empty partial transcript");
    connection.commit();
    const timed = await rec.waitFor(RealtimeEvents.COMMITTED_TRANSCRIPT_WITH_TIMESTAMPS);
    const committed = rec.of(RealtimeEvents.COMMITTED_TRANSCRIPT)[0];
    connection.close();
    expect(committed, "no committed_transcript before committed_transcript_with_timestamps");
    const wer = wordErrorRate(SENTENCE, committed.text);
    expect(wer <= 0.35, `committed ${JSON.stringify(committed.text)} (WER ${wer.toFixed(2)})`);
    expect(timed.text === committed.text, "the timestamped text differs from the committed text");
    const words = timed.words.filter((w) => w.type === "word");
    expect(words.map((w) => w.text).join(" ") === committed.text, "words do not make up the text");
    expect(words.every((w) => w.start <= w.end && w.logprob <= 0), "bad word times or logprobs");
    expect(rec.of(RealtimeEvents.ERROR).length === 0, `errors: ${JSON.stringify(rec.of(RealtimeEvents.ERROR))}`);
    return { committed: committed.text, partials: rec.of(RealtimeEvents.PARTIAL_TRANSCRIPT).length };
});

await check("speechToText.realtime.vad", async () => {
    const connection = await client.speechToText.realtime.connect({
        modelId: MODEL,
        audioFormat: AudioFormat.PCM_16000,
        sampleRate: 16000,
        commitStrategy: CommitStrategy.VAD,
        vadSilenceThresholdSecs: 0.5,
        vadThreshold: 0.4,
        minSpeechDurationMs: 100,
        minSilenceDurationMs: 100,
    });
    const rec = record(connection);
    const started = await rec.waitFor(RealtimeEvents.SESSION_STARTED);
    expect(started.config.vad_commit_strategy === "vad", `config ${JSON.stringify(started.config)}`);
    sendAudio(connection, Buffer.concat([speech, silence(1.0)]));
    const committed = await rec.waitFor(RealtimeEvents.COMMITTED_TRANSCRIPT);
    connection.close();
    const wer = wordErrorRate(SENTENCE, committed.text);
    expect(wer <= 0.35, `committed ${JSON.stringify(committed.text)} (WER ${wer.toFixed(2)})`);
    return { committed: committed.text };
});

await check("speechToText.realtime.previousText", async () => {
    const connection = await client.speechToText.realtime.connect({
        modelId: MODEL,
        audioFormat: AudioFormat.PCM_16000,
        sampleRate: 16000,
    });
    const rec = record(connection);
    await rec.waitFor(RealtimeEvents.SESSION_STARTED);
    connection.send({ audioBase64: silence(0.1).toString("base64"), previousText: "We spoke about doors." });
    connection.send({ audioBase64: silence(0.1).toString("base64"), previousText: "Too late." });
    const error = await rec.waitFor(RealtimeEvents.INPUT_ERROR);
    connection.commit();
    const committed = await rec.waitFor(RealtimeEvents.COMMITTED_TRANSCRIPT);
    connection.close();
    expect(rec.of(RealtimeEvents.INPUT_ERROR).length === 1, "the first chunk's previous_text was refused too");
    expect(error.error.includes("previous_text"), `input_error ${JSON.stringify(error)}`);
    expect(committed.text === "", `silence committed as ${JSON.stringify(committed.text)}`);
    return error;
});

await check("tokens.singleUse.create+speechToText.realtime.token", async () => {
    const { token } = await client.tokens.singleUse.create("realtime_scribe");
    expect(typeof token === "string" && token.startsWith("sutkn_"), `token ${JSON.stringify(token)}`);
    // A browser-like client holding only the token (the client insists on some key; with a token the
    // realtime helper sends none).
    const browser = new ElevenLabsClient({ baseUrl, apiKey: "sk_never_sent", maxRetries: 0 });
    const open = async () => {
        const connection = await browser.speechToText.realtime.connect({
            modelId: MODEL,
            audioFormat: AudioFormat.PCM_16000,
            sampleRate: 16000,
            token,
        });
        return { connection, rec: record(connection) };
    };
    const first = await open();
    await first.rec.waitFor(RealtimeEvents.SESSION_STARTED);
    first.connection.close();
    const second = await open();
    const refused = await second.rec.waitFor(RealtimeEvents.AUTH_ERROR);
    await second.rec.waitFor(RealtimeEvents.CLOSE);
    expect(refused.error.includes("already been used"), `auth_error ${JSON.stringify(refused)}`);
    expect(second.rec.of(RealtimeEvents.SESSION_STARTED).length === 0, "a used token opened a session");
    return refused;
});

await check("speechToText.realtime.invalidRequest", async () => {
    const connection = await client.speechToText.realtime.connect({
        modelId: MODEL,
        audioFormat: AudioFormat.PCM_16000,
        sampleRate: 16000,
        languageCode: "fr",
    });
    const rec = record(connection);
    const error = await rec.waitFor(RealtimeEvents.INVALID_REQUEST);
    await rec.waitFor(RealtimeEvents.CLOSE);
    expect(error.error.includes("not supported"), `invalid_request ${JSON.stringify(error)}`);
    expect(rec.of(RealtimeEvents.SESSION_STARTED).length === 0, "the session started anyway");
    return error;
});

const failed = results.filter((r) => !r.ok).map((r) => r.check);
console.log(
    JSON.stringify({ summary: true, sdk: "@elevenlabs/elevenlabs-js", version: sdkVersion, checks: results.length, failed }),
);
process.exit(failed.length ? 1 : 0);
