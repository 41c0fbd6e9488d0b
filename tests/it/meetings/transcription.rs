//! Transcription: refusals, slow answers, recordings too large to download or to upload (cut
//! by ffmpeg), and the response formats of OpenAI's models.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::{process_audio, transcription_uploads, walk_through_meeting};
use crate::common::fakes::Fakes;
use crate::common::follow::{
    follow_transcript, read_transcript_until_complete, wait_for_executions,
};
use crate::common::scene::{wait_for_status, Scene};

#[tokio::test]
async fn a_transcription_refusal_ends_in_error_naming_the_step() {
    let fakes = Fakes::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/audio/transcriptions"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": {"message": "Invalid file format.", "type": "invalid_request_error"}}),
        ))
        .mount(&fakes.openai)
        .await;
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = Scene::with(fakes).await;
    let mut transcript = follow_transcript(&app, &token, &id, None).await;
    wait_for_executions(&app, 1).await;
    process_audio(&app, &token, &id, &fakes.audio_url()).await;
    let failed = wait_for_status(&app, &token, &id, "ERROR").await;
    let message = failed["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("transcription failed: transcription answered 400"),
        "{message}"
    );
    assert_eq!(
        read_transcript_until_complete(&mut transcript).await,
        [],
        "a transcript that will never come ends its subscribers' streams"
    );
    assert!(message.contains("Invalid file format"), "{message}");
    // A 400 is not retried.
    let uploads = fakes.openai.received_requests().await.unwrap().len();
    assert_eq!(uploads, 1);
}

#[tokio::test]
async fn a_transcription_may_take_longer_than_other_provider_calls() {
    let fakes = Fakes::start().await;
    fakes
        .pipeline_succeeds_transcribing_in(Duration::from_millis(2500))
        .await;
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = Scene::configured(fakes, |c| {
        c.providers.timeout_secs = 1;
        c.providers.transcription_timeout_secs = 10;
    })
    .await;
    walk_through_meeting(&app, &fakes).await;
    let done = wait_for_status(&app, &token, &id, "DONE").await;
    assert_eq!(done["transcript"].as_array().unwrap().len(), 2);
}

/// `secs` seconds of a 440 Hz tone, as a 16 kHz mono 16-bit PCM WAV file.
fn tone_wav(secs: u32) -> Vec<u8> {
    let rate = 16_000u32;
    let samples: Vec<u8> = (0..rate * secs)
        .flat_map(|n| {
            let phase = n as f64 * 440.0 * std::f64::consts::TAU / rate as f64;
            ((phase.sin() * 8000.0) as i16).to_le_bytes()
        })
        .collect();
    let mut wav = Vec::with_capacity(44 + samples.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + samples.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    for field in [16u32, 1 | (1 << 16), rate, rate * 2, 2 | (16 << 16)] {
        wav.extend_from_slice(&field.to_le_bytes());
    }
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    wav.extend_from_slice(&samples);
    wav
}

/// The fake file server also serves six seconds of tone (192 kB) at `/recordings/long.wav`.
async fn long_recording(fakes: &Fakes) -> String {
    Mock::given(method("GET"))
        .and(path("/recordings/long.wav"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_bytes(tone_wav(6))
                .insert_header("content-type", "audio/wav"),
        )
        .mount(&fakes.files)
        .await;
    format!("{}/recordings/long.wav", fakes.files.uri())
}

#[tokio::test]
async fn a_recording_over_the_upload_limit_is_made_smaller_by_ffmpeg_and_sent_in_parts() {
    let fakes = Fakes::start().await;
    let url = long_recording(&fakes).await;
    // Each part says it lasts 2.25 s, as ffmpeg cuts them: its times follow the parts before.
    Mock::given(method("POST"))
        .and(path("/v1/audio/transcriptions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "task": "transcribe", "language": "english", "duration": 2.25, "text": "Boris will fix it.",
            "segments": [{"id": 0, "start": 0.5, "end": 2.0, "text": " Boris will fix it.", "speaker": "Boris"}]
        })))
        .mount(&fakes.openai)
        .await;
    fakes.llm_answers().await;
    fakes.jira_creates().await;
    // 10 kB: at 4 kB a second, parts of 2.25 s.
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = Scene::configured(fakes, |c| {
        c.meetings.transcription_max_upload_bytes = 10_000
    })
    .await;
    process_audio(&app, &token, &id, &url).await;

    let done = wait_for_status(&app, &token, &id, "DONE").await;
    let starts: Vec<f64> = done["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_f64().unwrap())
        .collect();
    assert_eq!(
        starts,
        vec![0.5, 2.75, 5.0],
        "three parts, each moved by those before"
    );
    let speakers: Vec<&str> = done["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["speaker"].as_str().unwrap())
        .collect();
    assert_eq!(
        speakers,
        ["Boris (part 1)", "Boris (part 2)", "Boris (part 3)"],
        "each part names its speakers afresh"
    );
    let uploads = transcription_uploads(&fakes).await;
    assert_eq!(uploads.len(), 3);
    for (n, upload) in uploads.iter().enumerate() {
        let body = String::from_utf8_lossy(&upload.body);
        assert!(
            body.contains(&format!("filename=\"part-{n:04}.mp3\"")),
            "part {n}"
        );
        assert!(
            upload.body.len() < 10_000 + 1_000,
            "part {n} is {} bytes",
            upload.body.len()
        );
    }
}

#[tokio::test]
async fn a_recording_over_the_upload_limit_without_ffmpeg_ends_in_error_saying_so() {
    let fakes = Fakes::start().await;
    let url = long_recording(&fakes).await;
    fakes.pipeline_succeeds().await;
    let Scene {
        fakes: _fakes,
        app,
        token,
        bot: id,
    } = Scene::configured(fakes, |c| {
        c.meetings.transcription_max_upload_bytes = 10_000;
        c.meetings.ffmpeg_path = "/nonexistent/ffmpeg".into();
    })
    .await;
    process_audio(&app, &token, &id, &url).await;
    let failed = wait_for_status(&app, &token, &id, "ERROR").await;
    let message = failed["errorMessage"].as_str().unwrap();
    assert!(message.starts_with("transcription failed"), "{message}");
    assert!(message.contains("ffmpeg"), "{message}");
}

#[tokio::test]
async fn a_recording_over_the_download_limit_is_refused_without_being_transcribed() {
    let fakes = Fakes::start().await;
    fakes.pipeline_succeeds().await;
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = Scene::configured(fakes, |c| c.meetings.audio_max_bytes = 1_000).await;
    process_audio(&app, &token, &id, &fakes.audio_url()).await;
    let failed = wait_for_status(&app, &token, &id, "ERROR").await;
    let message = failed["errorMessage"].as_str().unwrap();
    assert!(message.contains("larger than 1000 bytes"), "{message}");
    assert!(transcription_uploads(&fakes).await.is_empty());
}

/// The whole flow with `model` transcribing, the fake answering only a request that asks for
/// `format` (as OpenAI refuses the others for that model) with `answer`; the transcript.
async fn transcribed_by(model: &'static str, format: &str, answer: Value) -> Value {
    let fakes = Fakes::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/audio/transcriptions"))
        .and({
            // The body holds MP3 bytes, so it is searched as bytes, not as text.
            let field = format!("name=\"response_format\"\r\n\r\n{format}\r\n").into_bytes();
            move |request: &wiremock::Request| {
                request
                    .body
                    .windows(field.len())
                    .any(|window| window == field.as_slice())
            }
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .mount(&fakes.openai)
        .await;
    fakes.llm_answers().await;
    fakes.jira_creates().await;
    // Real audio: these models take at most about 25 minutes, so ffmpeg sees every recording.
    let url = long_recording(&fakes).await;
    let Scene {
        fakes: _fakes,
        app,
        token,
        bot: id,
    } = Scene::configured(fakes, move |c| {
        c.providers.transcription_model = model.into()
    })
    .await;
    process_audio(&app, &token, &id, &url).await;
    wait_for_status(&app, &token, &id, "DONE").await["transcript"].clone()
}

#[tokio::test]
async fn a_diarizing_model_is_asked_for_diarized_json_and_its_speakers_are_kept() {
    let transcript = transcribed_by(
        "gpt-4o-transcribe-diarize",
        "diarized_json",
        json!({
            "task": "transcribe", "duration": 12.0, "text": "I will fix the tests. I will write the notes.",
            "segments": [
                {"type": "transcript.text.segment", "id": "seg_0", "start": 0.0, "end": 5.0, "text": "I will fix the tests.", "speaker": "A"},
                {"type": "transcript.text.segment", "id": "seg_1", "start": 5.0, "end": 12.0, "text": "I will write the notes.", "speaker": "B"}
            ],
            "usage": {"type": "duration", "seconds": 12}
        }),
    )
    .await;
    let speakers: Vec<&str> = transcript
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["speaker"].as_str().unwrap())
        .collect();
    assert_eq!(speakers, ["A", "B"]);
}

#[tokio::test]
async fn a_model_that_answers_only_json_gives_its_text_as_one_segment() {
    let transcript = transcribed_by(
        "gpt-4o-mini-transcribe",
        "json",
        json!({"text": "Boris will fix the tests.", "usage": {"type": "tokens", "total_tokens": 40}}),
    )
    .await;
    assert_eq!(transcript.as_array().unwrap().len(), 1);
    assert_eq!(transcript[0]["text"], "Boris will fix the tests.");
}

#[tokio::test]
async fn a_large_playlist_given_as_a_recording_never_has_ffmpeg_read_what_it_lists() {
    let fakes = Fakes::start().await;
    fakes.pipeline_succeeds().await;
    // A media file on the server, which a playlist read by ffmpeg would have it open.
    let dir = std::env::temp_dir().join(format!("switchboard-local-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tone.wav"), tone_wav(2)).unwrap();
    let made = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-i"])
        .arg(dir.join("tone.wav"))
        .args(["-c:a", "aac", "-f", "mpegts"])
        .arg(dir.join("local.ts"))
        .status()
        .unwrap();
    assert!(made.success());
    let mut playlist = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:10\n");
    // Padded past the upload limit, so that it goes to ffmpeg.
    playlist.push_str(&"# padding\n".repeat(2_000));
    playlist.push_str(&format!(
        "#EXTINF:2,\n{}\n#EXT-X-ENDLIST\n",
        dir.join("local.ts").display()
    ));
    Mock::given(method("GET"))
        .and(path("/recordings/list.m3u8"))
        .respond_with(ResponseTemplate::new(200).set_body_string(playlist))
        .mount(&fakes.files)
        .await;
    let Scene {
        fakes,
        app,
        token,
        bot: id,
    } = Scene::configured(fakes, |c| {
        c.meetings.transcription_max_upload_bytes = 10_000
    })
    .await;
    let url = format!("{}/recordings/list.m3u8", fakes.files.uri());
    process_audio(&app, &token, &id, &url).await;

    let failed = wait_for_status(&app, &token, &id, "ERROR").await;
    let message = failed["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("could not read the recording as audio"),
        "{message}"
    );
    assert!(!message.contains("recordings-in-progress"), "{message}");
    assert!(
        transcription_uploads(&fakes).await.is_empty(),
        "nothing of the server's own file was transcribed"
    );
    let _ = std::fs::remove_dir_all(dir);
}
